"""Docker's service log lines, as `LogLine`s."""

from __future__ import annotations

from gateway.providers.base import LogLine


def parse_engine_logs(raw: bytes, name: str) -> list[LogLine]:
    """Lines of Docker's service logs read with `timestamps` and `details` on.

    Each line is `<RFC 3339 time> <k=v,...details> <text>`; the instance is the task id
    from the details (its first 12 characters, as the docker CLI shows ids).
    """
    lines = []
    # Only "\n" ends a log line: a "\r" (a progress bar) is part of the text.
    for raw_line in raw.split(b"\n"):
        if not raw_line:
            continue
        line = raw_line.decode("utf-8", errors="replace")
        timestamp, _, rest = line.partition(" ")
        details, _, text = rest.partition(" ")
        task = ""
        for pair in details.split(","):
            key, _, value = pair.partition("=")
            if key == "com.docker.swarm.task.id":
                task = value[:12]
        lines.append(LogLine(name, task, timestamp, text))
    return lines
