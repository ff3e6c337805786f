"""Running git through GitPython, with its failures turned into one-line errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import git

from patcher.errors import DiskFull, InfraError, is_no_space

# Never let git stop to ask for credentials: an unreachable or private URL must fail fast.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true"}


def last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1].removeprefix("stderr: ").strip("'") if lines else "no message"


# What git says when it cannot write a file of a tree or its index, which it does not say why.
_UNABLE_TO_WRITE = ("unable to write file", "could not reset index file", "unable to write new index file", "write error", "short write")


@contextlib.contextmanager
def failures_as(doing: str, hint: str = "", *, writing: Path | None = None) -> Iterator[None]:
    """Turn a failing git command into an ``InfraError`` saying what was being done; a
    ``DiskFull`` when git could not write under ``writing`` (a tree being checked out) into a
    directory it may write to, or says the disk is full."""
    try:
        yield
    except git.GitCommandError as exc:
        stderr = str(exc.stderr)
        if is_no_space(stderr) or (writing is not None and _could_not_write(stderr, writing)):
            raise DiskFull.at(writing, doing, detail=f"git: {_write_failure(stderr)}") from None
        message = f"git failed while {doing}: {last_line(stderr)}"
        raise InfraError(f"{message}; {hint}" if hint else message) from None


def _could_not_write(stderr: str, path: Path) -> bool:
    """git failed to write files where it has the permission to: a full file system (git's
    "error: unable to write file X" and "fatal: Could not reset index file" say no more)."""
    if not any(marker in stderr.lower() for marker in _UNABLE_TO_WRITE):
        return False
    existing = Path(os.path.abspath(path))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return os.access(existing, os.W_OK)


def _write_failure(stderr: str) -> str:
    lines = [line.strip().removeprefix("stderr: ").strip("'") for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("cmdline:")]
    first = next((line for line in lines if any(m in line.lower() for m in (*_UNABLE_TO_WRITE, "no space left"))), "")
    return first or (lines[-1] if lines else "no message")


def command(cwd: Path | None = None, *, git_dir: Path | None = None) -> git.Git:
    """A git command runner in ``cwd``, or bound to the repository ``git_dir``.

    Mirrors are addressed by ``GIT_DIR`` rather than through ``git.Repo``: once worktrees with
    their own config exist, git keeps ``core.bare`` in ``config.worktree``, which GitPython's
    own config reader does not see.
    """
    runner = git.Git(os.fspath(cwd) if cwd else None)
    runner.update_environment(**GIT_ENV)
    if git_dir is not None:
        runner.update_environment(GIT_DIR=os.fspath(git_dir))
    return runner
