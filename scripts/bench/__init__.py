"""Benchmarks behind ``crosstrain bench NAME``: one module each, discovered automatically.

A benchmark module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
it prints a readable table and, with ``--json``, one JSON object on stdout. Speed goals are
ratios against a baseline measured in the same run, never absolute times.
"""
