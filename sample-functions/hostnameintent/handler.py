"""An Alexa skill function: answers HostnameIntent with the name of the host it runs on.

The gateway routes an Alexa IntentRequest to the function named after its intent, so
this function is deployed as `hostnameintent` and receives the skill request on stdin.
"""

import json
import socket
import sys


def main() -> None:
    """Read the Alexa request from stdin and write an Alexa response to stdout."""
    try:
        request = json.load(sys.stdin)
        intent = request["request"]["intent"]["name"]
    except (ValueError, KeyError, TypeError):
        intent = None
    if intent:
        text = f"My hostname is {socket.gethostname()}"
    else:
        text = "I can only answer the hostname intent."
    response = {
        "version": "1.0",
        "response": {
            "outputSpeech": {"type": "PlainText", "text": text},
            "card": {"type": "Simple", "title": "Hostname", "content": text},
            "shouldEndSession": True,
        },
    }
    json.dump(response, sys.stdout)


if __name__ == "__main__":
    main()
