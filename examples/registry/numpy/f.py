import numpy as np


def f(event):
    n = int(event.get("n", 1000)) if isinstance(event, dict) else 1000
    a = np.arange(n, dtype=np.float64)
    return {"n": n, "mean": float(a.mean()), "numpy": np.__version__}
