"""The case study's image-resizing function (SOCK, issue 13).

Event: {"image": "gradient" | "clouds" | "checker", "width": W, "height": H}
(defaults: "gradient", 128 x 96). Decodes that sample JPEG (images/, made
by make_images.py), resizes it with Pillow (Lanczos), encodes it as JPEG
and returns the output's size in bytes and its SHA-256, and its own run
time (`handler_ms`: the case study's platform overhead is the latency
minus this).
"""
import hashlib
import io
import os
import time

from PIL import Image

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
NAMES = ("gradient", "clouds", "checker")
MAX_SIDE = 4096


def f(event):
    t0 = time.perf_counter()
    event = event if isinstance(event, dict) else {}
    name = event.get("image", "gradient")
    if name not in NAMES:
        raise ValueError("image must be one of %s, not %r" % (", ".join(NAMES), name))
    width, height = int(event.get("width", 128)), int(event.get("height", 96))
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError("width and height must be in 1..%d" % MAX_SIDE)
    with open(os.path.join(IMAGES, name + ".jpg"), "rb") as fh:
        data = fh.read()
    with Image.open(io.BytesIO(data)) as img:
        source = img.size
        out = img.convert("RGB").resize((width, height), Image.LANCZOS)
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=85)
    body = buf.getvalue()
    return {
        "image": name,
        "from": list(source),
        "to": [width, height],
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "handler_ms": (time.perf_counter() - t0) * 1e3,
    }
