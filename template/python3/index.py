"""The python3 template's entry point (fork mode): the watchdog runs it once per call with
the request body on standard input; what `function.handler.handle` returns is the answer.
Request metadata is in the environment (`Http_Method`, `Http_Path`, `Http_Query`, ...)."""

import sys

from function import handler


def main():
    request = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    answer = handler.handle(request)
    if answer is not None:
        sys.stdout.write(answer if isinstance(answer, str) else str(answer))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
