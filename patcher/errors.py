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
    """An error reported to the user as one line, never as a traceback.

    ``run_wide``: the error is the whole run's, not one release's (no Docker daemon): found while
    proving a release, it stops the run at once rather than failing release after release.
    """

    exit_code = ExitCode.INFRA
    run_wide = False


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


class DockerUnavailable(InfraError):
    """No Docker daemon answers (any more): every release of the run would fail the same way."""

    run_wide = True


class ToolchainUnavailable(InfraError):
    """No Go toolchain to run the tests with: every release of the run would fail the same way."""

    run_wide = True
