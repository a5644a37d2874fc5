def f(event):
    return {"hello": "world", "event": event}
