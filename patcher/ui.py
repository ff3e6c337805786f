"""Messages to the user. Results go to stdout; notices, warnings and errors go to stderr."""

from __future__ import annotations

import sys

from rich.console import Console

QUIET, NORMAL, VERBOSE = 0, 1, 2

_level = NORMAL
_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def configure(*, verbose: int = 0, quiet: bool = False) -> None:
    global _level
    _level = QUIET if quiet else NORMAL + verbose


def verbosity() -> int:
    return _level


def stderr() -> Console:
    return _stderr


def info(message: str) -> None:
    if _level >= NORMAL:
        _stderr.print(message, markup=False)


def debug(message: str) -> None:
    if _level >= VERBOSE:
        _stderr.print(message, style="dim", markup=False)


def warn(message: str) -> None:
    if _level >= NORMAL:
        _stderr.print(f"warning: {message}", style="yellow", markup=False)


def error(message: str) -> None:
    _stderr.print(f"error: {message}", style="bold red", markup=False)


def out(text: str) -> None:
    """Primary output (a version list, a diff): plain, unstyled, on stdout."""
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    sys.stdout.flush()
