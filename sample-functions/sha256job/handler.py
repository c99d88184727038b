"""sha256job: a CPU-heavy transform, deployed as a job (docs/jobs.md).

Hashes its input `ROUNDS` times over (each round hashes the last digest with the input's
first 64 bytes) and prints the digest, the rounds and the container's host name, so each
call shows which fresh container ran it.
"""

import hashlib
import os
import socket
import sys

ROUNDS = int(os.environ.get("ROUNDS", "200000"))

data = sys.stdin.buffer.read()
digest = hashlib.sha256(data).digest()
for _ in range(ROUNDS):
    digest = hashlib.sha256(digest + data[:64]).digest()
host = os.environ.get("HOSTNAME") or socket.gethostname()
print(f"{digest.hex()} rounds={ROUNDS} host={host}")
