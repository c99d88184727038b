def handle(req):
    """Answer one call: `req` is the request body (a string); return the response body."""
    return "Hello from python3! You said: " + req
