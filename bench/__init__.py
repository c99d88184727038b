"""Benchmark harness: `make bench` (= `python -m bench`).

Every scenario measures its subject next to a reference in the same run on the same
machine, and reports medians and ratios. See docs/benchmarks.md.
"""
