"""The `qabot` command line: a thin edge over the engine (`index`), the bot (`bot`) and the
benchmarks (`bench`). Each command opens the engine, calls one method and turns its errors into a
one-line message and an exit code."""

from .main import main

__all__ = ["main"]
