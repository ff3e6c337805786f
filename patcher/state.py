"""What argo-patcher keeps between runs, how big it is, and cleaning it.

* mirrors: the git mirrors of Argo's repository, under ``<cache root>/mirrors`` (see ``store``);
* Go caches of the docker runner: the named volumes for the module and build caches;
* Go caches of the local runner: ``<cache root>/go`` (module cache, build cache);
* the cluster proof's etcd and kube-apiserver, built once: ``<cache root>/cluster``;
* what the runs keep beside them under the cache root (``RECORDS``): the kept results of runs
  (``results``), the marks of warm builds (``warm``), the generations of kept test binaries
  (``binary-slots``), the marks of the cache program built into a volume (``cache-programs``),
  the records of running child processes (``runs``), the remembered pull failures
  (``pull-failures.json``), the golangci-lint builds (``lint``), the image helper (``tools``) and
  the copies of argo-patcher's code the runs pinned (``code``);
* the locks between runs (``locks``): shown, never removed (another run may hold one).

Images are not caches: ``patcher image list`` shows them and ``docker rmi`` removes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

import docker.errors
import filelock

from patcher import selfcode, settings, ui
from patcher.cluster import assets as cluster_assets
from patcher.errors import InfraError, InputError
from patcher.runners import childprocs, engine
from patcher.runners import container as container_runner
from patcher.runners import local as local_runner
from patcher.source import checkout
from patcher.source.mirrors import Store

MIRROR_LOCK_TIMEOUT_S = 5


@dataclasses.dataclass
class CacheEntry:
    kind: str  # "mirrors", "go-volume", "go-local", "cluster", a record's kind ("results", ...), "locks"
    name: str  # a path or a volume name
    size: int | None  # bytes; None when unknown
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Record:
    """A kind of state the runs keep under the cache root, which ``cache clean --<kind>`` removes."""

    kind: str
    relative: str  # under the cache root
    what: str

    @property
    def path(self) -> Path:
        return settings.cache_root() / self.relative


RECORDS = (
    Record("results", "results", "the kept results of Go runs, replayed as cached (--fresh runs again)"),
    Record("warm", "warm", "the marks of the commits a build cache has built (their two runs go side by side)"),
    Record("binary-slots", "binary-slots", "the generations of the kept test binaries (in the build cache volume)"),
    Record("cache-programs", "cache-programs", "the marks of the cache program built into a build cache volume"),
    Record("runs", "runs", "the records of the child processes runs started (cleaning kills those of gone runs and keeps the rest)"),
    Record("pull-failures", "pull-failures.json", "the image pulls that failed in the last hour (not tried again for an hour)"),
    Record("lint", "lint", "the golangci-lint builds"),
    Record("tools", "tools", "argo-patcher's image helper builds"),
    Record("logs", "logs", "the tracebacks of argo-patcher's internal errors, a folder per run"),
    Record("code", selfcode.CODE_DIR, "argo-patcher's code as the runs pinned it, one copy per version"),
)
KINDS = ("go", "mirrors", "cluster", *(record.kind for record in RECORDS))


def info(store: Store | None = None) -> list[CacheEntry]:
    store = store or Store()
    mirrors = store.mirrors()
    entries = [
        CacheEntry("mirrors", str(store.mirrors_dir), _size(store.mirrors_dir), f"{len(mirrors)} mirror(s)"),
        CacheEntry("go-local", str(local_runner.go_cache_dir()), _size(local_runner.go_cache_dir()), "local runner"),
        *(CacheEntry("cluster", str(built.path), built.size, built.note) for built in cluster_assets.cached_builds()),
    ]
    for record in RECORDS:
        path = record.path
        entries.append(CacheEntry(record.kind, str(path), _size(path) if path.exists() else 0, record.what if path.exists() else "none yet"))
    locks_dir = settings.cache_root() / "locks"
    entries.append(CacheEntry("locks", str(locks_dir), _size(locks_dir) if locks_dir.exists() else 0, "between runs; never removed"))
    ok, why = engine.available()
    if not ok:
        entries += [CacheEntry("go-volume", name, None, "Docker not reachable") for name in container_runner.cache_volumes()]
        return entries
    sizes = _volume_sizes()
    for name in container_runner.cache_volumes():
        entries.append(CacheEntry("go-volume", name, sizes.get(name, 0), "" if name in sizes else "not created yet"))
    return entries


def _volume_sizes() -> dict[str, int]:
    with engine.errors_as_infra("measuring the cache volumes"):
        usage = engine.client(300).df()
    return {
        v["Name"]: max(0, int((v.get("UsageData") or {}).get("Size", 0)))
        for v in usage.get("Volumes") or []
        if v.get("Name") in container_runner.cache_volumes()
    }


def clean(*, go: bool = False, mirrors: bool = False, cluster: bool = False, kinds: tuple[str, ...] = (), store: Store | None = None) -> list[CacheEntry]:
    """Remove the Go caches, the mirrors, the cluster binaries and/or the records of ``kinds``
    (``RECORDS``' kinds); return what was removed."""
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise InputError(f"cannot clean {', '.join(unknown)}: expected one of {', '.join(KINDS)}")
    go, mirrors, cluster = go or "go" in kinds, mirrors or "mirrors" in kinds, cluster or "cluster" in kinds
    records = [record for record in RECORDS if record.kind in kinds]
    if not (go or mirrors or cluster or records):
        raise InputError(f"say what to clean: {', '.join(f'--{kind}' for kind in KINDS)}, or --all")
    store = store or Store()
    removed: list[CacheEntry] = []
    if go:
        removed += _clean_go()
    if mirrors:
        removed += _clean_mirrors(store)
    if cluster:
        removed += _clean_cluster()
    for record in records:
        removed += _clean_record(record)
    return removed


def _clean_record(record: Record) -> list[CacheEntry]:
    path = record.path
    if not path.exists():
        return []
    if record.kind == "runs":
        return _clean_runs(path)
    size = _size(path)
    if path.is_dir():
        remove_tree(path)
    else:
        path.unlink(missing_ok=True)
    return [CacheEntry(record.kind, str(path), size)]


def _clean_runs(path: Path) -> list[CacheEntry]:
    """The records of runs that are gone, after their process groups are killed; a running run's stay."""
    size = _size(path)
    for kind in sorted({entry.name.split("-", 1)[0] for entry in path.glob("*-*.json")}):
        childprocs.reap_orphans(kind, f"a {kind} process")
    left = sorted(path.glob("*.json"))
    if left:
        ui.warn(f"kept {len(left)} record(s) in {path}: their runs are still going")
    return [CacheEntry("runs", str(path), size - _size(path))]

def _clean_cluster() -> list[CacheEntry]:
    """The etcd and kube-apiserver argo-patcher built (not those of KUBEBUILDER_ASSETS or PATH)."""
    removed = []
    for built in cluster_assets.cached_builds():
        remove_tree(built.path)
        removed.append(CacheEntry("cluster", str(built.path), built.size, built.note))
    return removed


def _clean_go() -> list[CacheEntry]:
    removed = []
    local = local_runner.go_cache_dir()
    if local.exists():
        size = _size(local)
        remove_tree(local)
        removed.append(CacheEntry("go-local", str(local), size))
    ok, why = engine.available()
    if not ok:
        ui.warn(f"{why.split(';')[0]}; the Go cache volumes were left alone")
        return removed
    docker_client = engine.client()
    sizes = _volume_sizes()
    in_use = []
    for name in container_runner.cache_volumes():
        if name not in sizes:
            continue
        with engine.errors_as_infra(f"removing the volume {name}"):
            try:
                docker_client.volumes.get(name).remove()
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # in use
                    in_use.append(name)
                    continue
                raise
        removed.append(CacheEntry("go-volume", name, sizes[name]))
    if in_use:
        raise InfraError(f"the volume(s) {', '.join(in_use)} are in use by a test run; try again when it has ended")
    return removed


def _clean_mirrors(store: Store) -> list[CacheEntry]:
    removed = []
    for path in store.mirrors():
        busy = _worktrees(path)
        if busy:
            ui.warn(f"kept the mirror {path.name}: its worktree(s) {', '.join(busy)} are in use or kept (--keep); remove them first")
            continue
        try:
            with store.lock(path.name).acquire(timeout=MIRROR_LOCK_TIMEOUT_S):
                size = _size(path)
                remove_tree(path)
        except filelock.Timeout:
            ui.warn(f"kept the mirror {path.name}: another argo-patcher is using it")
            continue
        removed.append(CacheEntry("mirrors", str(path), size))
    return removed


def _worktrees(mirror: Path) -> list[str]:
    """The worktrees of ``mirror`` still on disk: in use by a run, or kept."""
    return [str(tree.path) for tree in checkout.worktrees(mirror) if tree.path.exists()]


def remove_tree(path: Path) -> None:
    """``shutil.rmtree`` that also removes Go's read-only module cache directories."""

    def make_writable(function: Any, failed: str, _exc: Any) -> None:
        parent = os.path.dirname(failed)
        for target in (parent, failed):
            with contextlib.suppress(OSError):
                os.chmod(target, os.stat(target).st_mode | stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        function(failed)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable)
    else:
        shutil.rmtree(path, onerror=make_writable)


def _size(path: Path) -> int:
    """Bytes used by the files under ``path`` (hard links counted once); a file's own size."""
    if path.is_file():
        return path.stat().st_size
    total, seen = 0, set()
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if st.st_nlink > 1:
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover
