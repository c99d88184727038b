"""The gateway's header path in C: a measurement prototype for issue 36, not shipped.

`headers.c` is a CPython extension (`_faas_headers`) with drop-in replacements for the
hot path's pure header functions; `build.py` compiles it with the running interpreter's
own settings and imports it. `bench/native_gateway.py` serves a gateway that uses it, and
bench scenario 6 measures that gateway beside ours (docs/benchmarks.md).
"""
