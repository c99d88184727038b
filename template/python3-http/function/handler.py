def handle(event, context):
    """Answer one call.

    event: .body (bytes), .headers (dict, lower-case names), .method, .path, .query (dict of
    lists). context: .hostname. Return a dict with statusCode, body and headers, or just a
    body (str, bytes, or a dict/list sent as JSON).
    """
    return {
        "statusCode": 200,
        "body": "Hello from python3-http! You said: " + event.body.decode(errors="replace"),
        "headers": {"Content-Type": "text/plain"},
    }
