"""Running git through GitPython, with its failures turned into one-line errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import git

from patcher.errors import InfraError

# Never let git stop to ask for credentials: an unreachable or private URL must fail fast.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true"}


def last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1].removeprefix("stderr: ").strip("'") if lines else "no message"


@contextlib.contextmanager
def failures_as(doing: str, hint: str = "") -> Iterator[None]:
    """Turn a failing git command into an ``InfraError`` saying what was being done."""
    try:
        yield
    except git.GitCommandError as exc:
        message = f"git failed while {doing}: {last_line(str(exc.stderr))}"
        raise InfraError(f"{message}; {hint}" if hint else message) from None


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
