"""The one user-facing error type, and the exit codes it maps to.

Every failure the user can act on is raised as a ``PatcherError`` subclass carrying one line
that names the problem and what to do; ``cli.main`` prints that line and exits with the code.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    TESTS_FAILED = 1
    USAGE = 2
    INFRA = 3
    INTERRUPTED = 130


class PatcherError(Exception):
    """An error reported to the user as one line, never as a traceback."""

    exit_code = ExitCode.INFRA


class InputError(PatcherError):
    """Bad input: an unknown version, a malformed spec, a repository that is not Argo."""

    exit_code = ExitCode.USAGE


class PatchError(PatcherError):
    """The rendered patch is broken (an unused or missing import, invalid Go): the patch's own
    failure, not the input's, so it is refused like a failing test."""

    exit_code = ExitCode.TESTS_FAILED


class InfraError(PatcherError):
    """The machinery failed: git, Docker, the Go toolchain, the network."""

    exit_code = ExitCode.INFRA
