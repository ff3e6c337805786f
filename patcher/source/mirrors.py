"""The cache of upstream mirrors, one bare repository per source, behind a file lock.

A URL is cloned with ``--mirror`` into a staging directory that is renamed into place only
once complete, so an interrupted clone never leaves a half-made mirror. A local repository
(bare or not) is never written to: its mirror borrows its objects through git's alternates
(``clone --shared``), which costs no copy. A mirror is fetched again only when a requested
version is missing from it, on ``refresh``, or when a spec names a branch and the mirror's
copy of the branch heads is older than the branch age limit (``settings.branch_max_age_s``; a
local repository's, which costs nothing to fetch, is always brought up to date). Tags never
move, so a warm cache of releases needs no network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import threading
import time
from pathlib import Path

import filelock
import git

from patcher import locks, ui
from patcher.errors import InfraError, InputError
from patcher.settings import cache_root
from patcher.source import gitcmd, versions
from patcher.source.versions import RefKind, Refs, Release, UnknownVersionError

UPSTREAM_URL = "https://github.com/argoproj/argo-workflows.git"
ARGO_MARKER = "workflow/controller/workflowpod.go"
LOCK_TIMEOUT_S = 15 * 60
FETCHED_STAMP = "argo-patcher/fetched"  # touched whenever the mirror got the source's refs
_URL = re.compile(r"^([a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)


def is_url(value: str) -> bool:
    """Whether a --repo value is a URL (scp-like ``user@host:path`` too), not a local path."""
    return bool(_URL.match(value))


@dataclasses.dataclass(frozen=True)
class RepoSource:
    """Where releases come from: a URL, or a local repository used read-only."""

    location: str
    local_git_dir: Path | None = None

    @classmethod
    def parse(cls, value: str) -> RepoSource:
        if is_url(value):
            return cls(value)
        path = Path(value).expanduser()
        if not path.exists():
            raise InputError(f"--repo {value}: no such directory, and not a URL")
        try:
            repo = git.Repo(path, search_parent_directories=False)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise InputError(f"--repo {value} is not a git repository") from None
        common_dir = Path(repo.common_dir).resolve()
        return cls(str(path.resolve()), common_dir)

    @property
    def is_local(self) -> bool:
        return self.local_git_dir is not None

    @property
    def key(self) -> str:
        """A stable, readable directory name for this source's mirror."""
        name = re.sub(r"\.git$", "", self.location.rstrip("/").rsplit("/", 1)[-1]) or "repo"
        name = re.sub(r"[^\w.-]", "_", name)
        digest = hashlib.sha256(self.location.encode()).hexdigest()[:12]
        return f"{name}-{digest}"


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_root()

    @property
    def mirrors_dir(self) -> Path:
        return self.root / "mirrors"

    def lock(self, name: str) -> filelock.FileLock:
        return locks.lock(name, timeout=LOCK_TIMEOUT_S, root=self.root)

    def mirror(self, source: RepoSource) -> Mirror:
        """The mirror of ``source``, made on first use."""
        path = self.mirrors_dir / source.key
        with self.lock(source.key):
            if not (path / "HEAD").exists():
                self._make_mirror(source, path)
        return Mirror(path, source, self)

    def _make_mirror(self, source: RepoSource, path: Path) -> None:
        staging = path.with_name(f"{path.name}.staging-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        if source.is_local:
            ui.debug(f"mirroring {source.location} by reference")
            doing, hint = f"mirroring {source.location}", "check that it is a readable git repository"
        else:
            ui.info(f"cloning {source.location} into the cache (first use; later runs reuse it)")
            doing, hint = f"cloning {source.location}", "check the URL and the network, or point --repo at a local mirror"
        try:
            with gitcmd.failures_as(doing, hint, writing=staging):
                args = ["--mirror", "--quiet"] + (["--shared"] if source.is_local else [])
                gitcmd.command().clone(*args, source.location, os.fspath(staging))
            _stamp(staging)
            staging.rename(path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def mirrors(self) -> list[Path]:
        if not self.mirrors_dir.is_dir():
            return []
        return sorted(p for p in self.mirrors_dir.iterdir() if (p / "HEAD").exists())


def _stamp(mirror: Path) -> None:
    stamp = mirror / FETCHED_STAMP
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()


class Mirror:
    """A bare mirror of one source, with the releases its tags name."""

    def __init__(self, path: Path, source: RepoSource, store: Store) -> None:
        self.path = path
        self.source = source
        self.store = store
        self.git = gitcmd.command(git_dir=path)
        self._refs: Refs | None = None
        self._fetched = False

    def lock(self) -> filelock.FileLock:
        return self.store.lock(self.source.key)

    def refs(self) -> Refs:
        """The mirror's tags and branches, as a spec is resolved against them."""
        if self._refs is None:
            with gitcmd.failures_as(f"listing the tags and branches of {self.source.location}"):
                # Full names: a name that is a tag and a branch too would come out "tags/x" short.
                tags = [name.removeprefix("refs/tags/") for name in self.git.for_each_ref("refs/tags", format="%(refname)").split()]
                heads = self.git.for_each_ref("refs/heads", format="%(objectname) %(refname)").splitlines()
            branches = {name.removeprefix("refs/heads/"): sha for sha, name in (line.split(" ", 1) for line in heads if " " in line)}
            self._refs = Refs(versions.releases_from_tags(tags), frozenset(tags), branches, self._find_commit)
        return self._refs

    def releases(self) -> list[Release]:
        return list(self.refs().releases)

    def _find_commit(self, prefix: str) -> str | None:
        try:
            return str(self.git.rev_parse("--verify", "--quiet", f"{prefix}^{{commit}}"))
        except git.GitCommandError:
            return None  # no such commit, or an ambiguous prefix

    def fetched_age_s(self) -> float:
        """How long ago the mirror last got the source's refs."""
        for marker in (self.path / FETCHED_STAMP, self.path / "HEAD"):
            with contextlib.suppress(OSError):
                return max(0.0, time.time() - marker.stat().st_mtime)
        return float("inf")

    def fetch(self, why: str = "new tags") -> None:
        where = "from " + self.source.location
        if not self.source.is_local:
            ui.info(f"fetching {why} {where}")
        with self.lock(), gitcmd.failures_as(f"fetching {where}", "check the URL and the network", writing=self.path):
            self.git.fetch("--quiet", "--prune", "--tags", "origin")
            _stamp(self.path)
        self._refs = None
        self._fetched = True
        shutil.rmtree(self.path / "argo-patcher" / "missing", ignore_errors=True)

    def resolve(self, spec: str, *, pre: bool = False, refresh: bool = False, branch_max_age_s: float = float("inf")) -> list[Release]:
        """Resolve ``spec``; fetch first when asked to, when it names a ref not here yet, or when it
        names a branch whose head here is older than ``branch_max_age_s`` (always, for a local source)."""
        if refresh and not self._fetched:
            self.fetch()
        try:
            found = versions.resolve(spec, self.refs(), pre=pre)
        except UnknownVersionError:
            if self._fetched:
                raise
            self.fetch()
            return versions.resolve(spec, self.refs(), pre=pre)
        max_age = 0.0 if self.source.is_local else branch_max_age_s
        if not self._fetched and any(r.kind is RefKind.BRANCH for r in found) and self.fetched_age_s() >= max_age:
            self.fetch("the branch heads")
            found = versions.resolve(spec, self.refs(), pre=pre)
        return found

    def commit_of(self, release: Release) -> str:
        if release.kind is not RefKind.TAG:
            return release.commit
        with gitcmd.failures_as(f"reading {release}"):
            return str(self.git.rev_parse(f"{release.revision}^{{commit}}"))

    def has_file(self, release: Release, path: str) -> bool:
        try:
            self.git.cat_file("-e", f"{self.commit_of(release)}:{path}")
        except (git.GitCommandError, InfraError):
            return False
        return True

    def missing_files(self, commit: str) -> list[str]:
        """Paths of files in ``commit`` whose contents the mirror lacks (snapshots of a repository
        may leave out very large files). Remembered per commit until the next fetch."""
        memo = self.path / "argo-patcher" / "missing" / commit
        try:
            return memo.read_text().split("\0")[:-1]
        except OSError:
            pass
        with gitcmd.failures_as(f"listing the files of {commit[:12]}"):
            listing = self.git.ls_tree("-r", "-z", "--full-tree", commit)
        missing = []
        for entry in filter(None, listing.split("\0")):
            meta, path = entry.split("\t", 1)
            _mode, kind, sha = meta.split()
            if kind != "blob":
                continue
            try:
                self.git.get_object_header(sha)
            except ValueError:
                missing.append(path)
        missing.sort()
        memo.parent.mkdir(parents=True, exist_ok=True)
        staged = memo.with_name(f"{commit}.{os.getpid()}.{threading.get_ident()}")
        staged.write_text("".join(p + "\0" for p in missing))
        staged.replace(memo)
        return missing

    def require_argo(self) -> None:
        """Refuse a repository that is not Argo Workflows: its newest release lacks the controller."""
        releases = self.releases()
        if not releases:
            raise InputError(f"{self.source.location} has no release tags (vX.Y.Z); is it Argo Workflows? check --repo")
        newest = releases[-1]
        if not self.has_file(newest, ARGO_MARKER):
            raise InputError(
                f"{self.source.location} does not look like Argo Workflows: {newest} has no {ARGO_MARKER}; check --repo"
            )
