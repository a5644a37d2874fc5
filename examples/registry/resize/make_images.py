"""Writes the resize function's sample JPEGs (images/*.jpg), deterministically.

    PYTHONPATH=/var/lib/sock-exec/packages/pillow==11.0.0 \
        /usr/bin/python3 examples/registry/resize/make_images.py

Three photo-like 480x360 images, each under 30 KB: a smooth colour
gradient with a sun, seeded value noise (clouds), and a noisy checkerboard.
"""
import os
import random

from PIL import Image, ImageDraw, ImageFilter

W, H = 480, 360
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")


def gradient():
    img = Image.new("RGB", (W, H))
    px = img.load()
    for y in range(H):
        for x in range(W):
            px[x, y] = (40 + x * 200 // W, 80 + y * 150 // H, 200 - (x + y) * 150 // (W + H))
    ImageDraw.Draw(img).ellipse((330, 40, 420, 130), fill=(250, 220, 120))
    return img.filter(ImageFilter.GaussianBlur(2))


def clouds():
    rng = random.Random(13)
    small = Image.new("L", (24, 18))
    small.putdata([rng.randrange(256) for _ in range(24 * 18)])
    grey = small.resize((W, H), Image.BICUBIC).filter(ImageFilter.GaussianBlur(6))
    sky = Image.new("RGB", (W, H), (70, 120, 200))
    return Image.composite(Image.new("RGB", (W, H), (245, 245, 250)), sky, grey)


def checker():
    rng = random.Random(7)
    img = Image.new("RGB", (W, H))
    px = img.load()
    for y in range(H):
        for x in range(W):
            v = 200 if (x // 40 + y // 40) % 2 else 60
            n = rng.randrange(-25, 26)
            px[x, y] = (v + n, v // 2 + n, 255 - v + n)
    return img.filter(ImageFilter.GaussianBlur(1))


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, make in [("gradient", gradient), ("clouds", clouds), ("checker", checker)]:
        path = os.path.join(OUT, name + ".jpg")
        make().save(path, "JPEG", quality=80, optimize=True)
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
