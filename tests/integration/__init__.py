"""Integration tests (a package: its module names must not clash with tests/utils, tests/tools)."""
