"""fwatchdog: turn any program into an HTTP function.

A package of small modules, standard library only, Python >= 3.9, shipped as one file: a
zipapp (``fwatchdog.pyz``, built by scripts/build-watchdog.sh). Run it with ``fprocess`` set:
``python3 fwatchdog.pyz`` (or ``python3 -m fwatchdog`` with this folder's parent on the path).

- ``config``: the environment read once into a frozen ``Config``.
- ``values``: one parser per kind of value (durations, booleans, DNS labels, URLs), the
  one module the gateway imports too.
- ``http1``: HTTP/1.1 parsing (``parser``) and response bytes (``writer``), no I/O.
- ``connection``: one client connection, its read deadline and its short answers.
- ``runners``: one runner per mode behind ``runners.base.Runner``: ``process`` starts
  ``fprocess`` per request (``mode=fork``), ``http`` proxies to a long-running one.
- ``server``: the listening socket, the request loop and graceful shutdown.

See README.md next to this folder for the behaviour.
"""
