"""The one user-facing error type, and the exit codes it maps to.

Every failure the user can act on is raised as a ``PatcherError`` subclass carrying one line
that names the problem and what to do; ``cli.main`` prints that line and exits with the code.
"""

from __future__ import annotations

import enum
import errno
import os
import re
import shutil
import time
import traceback
from pathlib import Path


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


class InternalError(InfraError):
    """argo-patcher's own fault (a template of its own that renders bad Go, a bug): reported as
    argo-patcher's, never as the release's failure."""


class DiskFull(InfraError):
    """A file system is full: the line names it, what was being written, and the space left there."""

    @classmethod
    def at(cls, path: str | os.PathLike[str] | None, doing: str = "", *, detail: str = "") -> DiskFull:
        return cls(disk_full_line(path, doing, detail=detail))


NO_SPACE = "no space left on device"
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# How git, Go and Docker name the file they could not write: "write /x/y: no space left on device",
# "open /x/y: ...", "error: unable to write file x", "could not write to '/x/y'".
_WRITTEN = re.compile(
    r"(?:write|open|mkdir|create|rename|link|symlink|copy|mkdirat|openat)\s+'?(?P<path>/[^\s:']+)'?\s*:\s*no space left on device", re.IGNORECASE
)


def is_no_space(exc: BaseException | str) -> bool:
    """Whether ``exc`` (an exception or a tool's message) says a file system is full."""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS:
        return True
    return NO_SPACE in str(exc).lower() or "disk quota exceeded" in str(exc).lower()


def written_path(message: str) -> str | None:
    """The file a tool's "no space left on device" message names, if it names one."""
    found = _WRITTEN.search(message)
    return found.group("path") if found else None


def mount_point(path: str | os.PathLike[str]) -> Path:
    """The mount point of the file system ``path`` is on (its nearest existing parent's)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    try:
        device = current.stat().st_dev
        while current != current.parent and current.parent.stat().st_dev == device:
            current = current.parent
    except OSError:
        pass
    return current


def _fs_type(mount: Path) -> str:
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            types = {fields[1]: fields[2] for fields in (line.split() for line in mounts) if len(fields) > 2}
    except OSError:
        return ""
    return types.get(str(mount), "")


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def disk_full_line(path: str | os.PathLike[str] | None, doing: str = "", *, detail: str = "") -> str:
    """The one line of a full file system: which one (its mount point and type), what was being
    written, and the space left there now."""
    where = "a file system"
    free = ""
    if path:
        mount = mount_point(path)
        kind = _fs_type(mount)
        where = f"{mount}" + (f" ({kind})" if kind else "")
        try:
            usage = shutil.disk_usage(mount)
            free = f", {_human(usage.free)} free of {_human(usage.total)}"
        except OSError:
            pass
    writing = f" while {doing}" if doing else ""
    target = f" ({path})" if path and str(path) != where.split(" ")[0] else ""
    hint = "free some space there"
    if path and os.environ.get("TMPDIR") and Path(os.path.abspath(path)).is_relative_to(Path(os.environ["TMPDIR"]).absolute()):
        hint += ", or point TMPDIR at a larger file system"
    why = f": {detail}" if detail else ""
    return f"no space left on device: {where} is full{writing}{target}{free}{why}; {hint}"


def no_space_line(exc: BaseException, doing: str = "", *, path: str | os.PathLike[str] | None = None) -> str | None:
    """The line of a full disk for ``exc``, when it is one (an ``ENOSPC``, a tool's "no space left
    on device"); None otherwise. An error already made a ``DiskFull`` keeps its line."""
    if isinstance(exc, DiskFull):
        return str(exc)
    if not is_no_space(exc):
        return None
    if isinstance(exc, OSError):
        path = path or exc.filename
        return disk_full_line(path, doing)
    message = str(exc)
    return disk_full_line(path or written_path(message), doing, detail=_first_line(message))


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if NO_SPACE in line.lower()]
    return (lines[0] if lines else message.strip().splitlines()[0] if message.strip() else "")[:300]


_RUN_STAMP = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{os.getpid()}"


def run_log_dir() -> Path:
    """This run's directory of logs, under the cache (it outlives the run's temporary trees)."""
    from patcher import settings  # settings imports this module

    return settings.cache_root() / "logs" / _RUN_STAMP


def internal_error_line(exc: BaseException, where: str = "") -> str:
    """The one line of an error that is argo-patcher's own (not a ``PatcherError``), its traceback
    written to a log file of this run's, which the line names (as pre-commit does)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", where or "argo-patcher").strip("-") or "argo-patcher"
    text = "".join(traceback.format_exception(exc))
    try:
        log = run_log_dir() / f"internal-error-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"argo-patcher: an internal error{' in ' + where if where else ''}\n\n{text}", encoding="utf-8")
        saved = f"the traceback is in {log}"
    except OSError as write_error:
        saved = f"its traceback could not be written ({write_error.strerror or write_error}); rerun with -vv to see it"
    first = " ".join(str(exc).split())[:300]
    return f"internal error{' in ' + where if where else ''}: {type(exc).__name__}: {first}; {saved} (a bug of argo-patcher: report it with that file)"
