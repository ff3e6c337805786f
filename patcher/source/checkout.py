"""Clean trees of releases: one detached git worktree of the mirror per release.

A run's worktrees live in one temporary directory named after the run's process id, and are
removed when the run ends, on errors and on Ctrl-C alike, unless they are kept (``--keep``,
``--output``); kept worktrees are locked in git so that nothing reaps them. Worktrees left by a
run that was killed are removed by the next run (its run directory whatever the mirror, the
mirror's records of them by the next run on that mirror).

A mirror may lack some blobs (snapshots of upstream leave out very large files); such files are
left out of the checkout through a sparse-checkout pattern, with a notice, rather than failing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import git

from patcher import owners, ui
from patcher.errors import InputError
from patcher.source import gitcmd
from patcher.source.mirrors import Mirror
from patcher.source.versions import Release

RUN_DIR_PREFIX = "argo-patcher-run-"
# A checkout writes thousands of small files; on a RAM-backed tmpfs that takes a tenth of the
# time it can take on a disk. Used when one has this much room, unless TMPDIR says otherwise.
TMPFS_CANDIDATES = ("XDG_RUNTIME_DIR", "/dev/shm")
TMPFS_MIN_FREE = 2 * 1024**3
_RUN_DIR = re.compile(re.escape(RUN_DIR_PREFIX) + r"(\d+)-")
KEPT_REASON = "kept by argo-patcher"
# Top-level directories of an Argo tree with no Go in them (client SDKs, the UI, the docs): half
# its files. A run's temporary trees leave them out; kept trees (--keep, --output) are whole.
LEAN_EXCLUDES = ("sdks", "ui", "docs")


@dataclasses.dataclass(frozen=True)
class Checkout:
    release: Release
    commit: str
    path: Path
    left_out: tuple[str, ...] = ()


class Workspace:
    """The checkouts of one run; a context manager that cleans them up. Thread-safe."""

    def __init__(self, mirror: Mirror, *, keep: bool = False) -> None:
        self.mirror = mirror
        self.keep = keep
        self._root: Path | None = None
        self._checkouts: list[Checkout] = []
        self._kept: set[Path] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> Workspace:
        reap_stale_worktrees(self.mirror)
        reap_abandoned_run_dirs()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def root(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-", dir=scratch_parent()))
            return self._root

    def checkout(self, release: Release, *, into: Path | None = None, name: str | None = None) -> Checkout:
        """A clean, detached tree of ``release``; ``into`` makes it a kept tree at that path."""
        if into is not None:
            into = into.resolve()
            if into.exists() and any(into.iterdir()):
                raise InputError(f"{into} exists and is not empty; choose a new --output directory")
        path = into or self.root / slug(name or release.name)
        commit = self.mirror.commit_of(release)
        whole = into is not None or self.keep
        left_out = add_worktree(self.mirror, commit, path, exclude=() if whole else LEAN_EXCLUDES)
        if left_out:
            shown = ", ".join(left_out[:3]) + (f" and {len(left_out) - 3} more" if len(left_out) > 3 else "")
            ui.warn(f"the mirror lacks {len(left_out)} file(s) of {release} ({shown}); checked out without them")
        checkout = Checkout(release, commit, path, tuple(left_out))
        with self._lock:
            self._checkouts.append(checkout)
        if into is not None or self.keep:
            self._keep(checkout)
        return checkout

    def _keep(self, checkout: Checkout) -> None:
        with gitcmd.failures_as(f"locking the worktree {checkout.path}"):
            self.mirror.git.worktree("lock", "--reason", KEPT_REASON, os.fspath(checkout.path))
        with self._lock:
            self._kept.add(checkout.path)

    def close(self) -> None:
        with self._lock:
            checkouts, self._checkouts = self._checkouts, []
        for checkout in reversed(checkouts):
            if checkout.path in self._kept:
                ui.info(f"kept {checkout.release} at {checkout.path}")
            else:
                remove_worktree(self.mirror, checkout.path)
        if self._root is not None and not any(p.is_relative_to(self._root) for p in self._kept):
            shutil.rmtree(self._root, ignore_errors=True)


def slug(name: str) -> str:
    """``name`` (a tag, a branch such as ``team/argo-3.5``) as one safe path element."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "tree"


def scratch_parent() -> str | None:
    """Where a run's temporary trees go: a tmpfs with room, or (None) the system's temp dir."""
    if os.environ.get("TMPDIR"):
        return None
    for path in _tmpfs_dirs():
        with contextlib.suppress(OSError):
            if os.access(path, os.W_OK) and shutil.disk_usage(path).free >= TMPFS_MIN_FREE:
                return path
    return None


def _tmpfs_dirs() -> list[str]:
    paths = (os.environ.get(candidate, "") if candidate.isupper() else candidate for candidate in TMPFS_CANDIDATES)
    return [path for path in paths if path]


def run_dir_parents() -> list[Path]:
    """Everywhere a run directory may be: this run's choice may differ from a killed run's (a
    tmpfs that has since filled up, another TMPDIR)."""
    found = [Path(path) for path in (*_tmpfs_dirs(), tempfile.gettempdir()) if os.path.isdir(path)]
    return list(dict.fromkeys(found))


def add_worktree(mirror: Mirror, commit: str, path: Path, *, exclude: Sequence[str] = ()) -> list[str]:
    """Check ``commit`` out at ``path`` without the top-level directories ``exclude``; return the
    files left out because the mirror lacks them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with mirror.lock():
        with gitcmd.failures_as(f"adding a worktree at {path}", writing=path):
            mirror.git.worktree("add", "--quiet", "--no-checkout", "--detach", os.fspath(path), commit)
        # Under the lock: the listing talks to one persistent `git cat-file` that threads must not share.
        missing = mirror.missing_files(commit)
    try:
        tree = gitcmd.command(path)
        with gitcmd.failures_as(f"checking out {commit[:12]}", writing=path):
            if missing or exclude:
                patterns = [f"!/{p}" for p in missing] + [f"!/{d}/" for d in exclude]
                tree.sparse_checkout("set", "--no-cone", "/*", *patterns)
            tree.reset("--quiet", "--hard", "HEAD")
        return missing
    except BaseException:
        remove_worktree(mirror, path)
        raise


def remove_worktree(mirror: Mirror, path: Path) -> None:
    with contextlib.suppress(git.GitCommandError):
        mirror.git.worktree("unlock", os.fspath(path))
    try:
        mirror.git.worktree("remove", "--force", "--force", os.fspath(path))
    except git.GitCommandError as exc:
        ui.debug(f"git worktree remove {path}: {gitcmd.last_line(str(exc.stderr))}")
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(git.GitCommandError):
        mirror.git.worktree("prune")


def reap_stale_worktrees(mirror: Mirror) -> None:
    """Remove the worktrees of runs whose process is gone (a killed run cannot clean up)."""
    with contextlib.suppress(git.GitCommandError):
        mirror.git.worktree("prune")
    for tree in worktrees(mirror.path):
        path, match = tree.path, _RUN_DIR.search(tree.path.parent.name)
        if tree.locked or not match or owners.alive(int(match.group(1))):
            continue
        ui.debug(f"removing {path}, left by a run that did not finish")
        remove_worktree(mirror, path)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def reap_abandoned_run_dirs() -> None:
    """Remove the run directories of runs whose process is gone, whichever mirror their trees came
    from (another cache's mirror may never be used again, and on a tmpfs they hold memory). A
    directory with a tree that may be kept stays: one locked in git, or whose git data is gone."""
    for parent in run_dir_parents():
        with contextlib.suppress(OSError):
            for run_dir in parent.glob(f"{RUN_DIR_PREFIX}*"):
                match = _RUN_DIR.match(run_dir.name)
                if not match or owners.alive(int(match.group(1))) or not run_dir.is_dir() or run_dir.is_symlink():
                    continue
                if any(_may_be_kept(tree) for tree in run_dir.iterdir()):
                    continue
                ui.debug(f"removing {run_dir}, left by a run that did not finish")
                shutil.rmtree(run_dir, ignore_errors=True)


def _may_be_kept(tree: Path) -> bool:
    dot_git = tree / ".git"
    if not dot_git.exists():
        return False  # never got as far as a worktree
    try:
        gitdir = Path(dot_git.read_text().strip().removeprefix("gitdir: "))
    except OSError:
        return True
    return not gitdir.is_dir() or (gitdir / "locked").exists()


@dataclasses.dataclass(frozen=True)
class Worktree:
    path: Path
    locked: bool  # kept (--keep, --output): never reaped


def worktrees(git_dir: Path) -> list[Worktree]:
    """The worktrees a repository (a mirror) records, but its own directory; none when git fails."""
    try:
        listing = gitcmd.command(git_dir=git_dir).worktree("list", "--porcelain")
    except git.GitCommandError:
        return []
    found = []
    for block in listing.split("\n\n"):
        lines = block.splitlines()
        if not lines or not lines[0].startswith("worktree ") or "bare" in lines:
            continue
        found.append(Worktree(Path(lines[0].removeprefix("worktree ")), any(line.startswith("locked") for line in lines)))
    return found



