"""HTTP/1.1 without I/O: request heads and bodies in (``parser``), response bytes out
(``writer``). Tested bytes-in/bytes-out in tests/watchdog/test_parser.py and test_writer.py."""
