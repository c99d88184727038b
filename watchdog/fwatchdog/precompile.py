"""``python3 fwatchdog.pyz --precompile``: put the running Python's compiled modules into
the zipapp itself (``fwatchdog/x.pyc`` beside ``fwatchdog/x.py``).

zipimport never writes bytecode: without a ``.pyc`` in the archive it compiles every module
at every start, and what compiling leaves behind in the heap stays for the life of the
process: about 1.2 MB of every idle replica's RSS (docs/benchmarks.md, "Idle memory of a
function"). The watchdog's image runs this once at build time, with the image's Python.
Another Python finds a bytecode of the wrong version, ignores it and compiles the source as
before, so an image that copies the archive onto a different Python still works.
The archive is rewritten stored, not deflated: about 280 KB instead of 130 KB, and no
zlib in the watchdog's process.
"""

from __future__ import annotations

import compileall
import os
import sys
import tempfile
import zipapp
import zipfile

INTERPRETER = "/usr/bin/env python3"  # as scripts/build-watchdog.sh writes it


def precompile(archive: str) -> int:
    """Rewrite `archive` (a zipapp) with bytecode for this Python; 0 on success, else 2
    with a message on stderr."""
    if not zipfile.is_zipfile(archive):
        print(f"fwatchdog: --precompile: {archive!r} is not a zipapp", file=sys.stderr)
        return 2
    folder = os.path.dirname(os.path.abspath(archive))
    with tempfile.TemporaryDirectory() as stage:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(stage)
        if not compileall.compile_dir(stage, quiet=1, legacy=True, force=True):
            print("fwatchdog: --precompile: a module did not compile", file=sys.stderr)
            return 2
        # Beside the archive, so that the final rename stays on one file system.
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".fwatchdog-", suffix=".pyz")
        os.close(fd)
        try:
            # Stored, not deflated: reading a deflated archive loads zlib (0.2 MB of RSS).
            zipapp.create_archive(stage, temporary, interpreter=INTERPRETER, compressed=False)
            os.chmod(temporary, os.stat(archive).st_mode)
            os.replace(temporary, archive)
        except BaseException:
            os.unlink(temporary)
            raise
    return 0
