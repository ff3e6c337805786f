"""`patcher cache info` and `patcher cache clean`."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from patcher import state
from tests import gitrepo

CLEAN_PREFIX = "argo-patcher-cleantest"


def _read_only_module_cache(root: Path) -> Path:
    """A local Go cache shaped like Go's: module directories are read-only."""
    module = root / "go" / "mod" / "example.com" / "m@v1.0.0"
    module.mkdir(parents=True)
    (module / "m.go").write_text("package m\n" * 100)
    (module / "m.go").chmod(0o444)
    module.chmod(0o555)
    (root / "go" / "build").mkdir(parents=True)
    (root / "go" / "build" / "ab").write_bytes(b"x" * 5000)
    return module


def test_clean_needs_a_choice(run_cli: Any) -> None:
    proc = run_cli("cache", "clean")
    assert proc.returncode == 2
    assert "say what to clean: --go, --mirrors, --cluster, --results, --warm, --binary-slots" in proc.stderr and "--code, or --all" in proc.stderr


def test_info_and_clean_local_go_caches(run_cli: Any, isolated_cache: Path) -> None:
    _read_only_module_cache(isolated_cache)
    info = run_cli("cache", "info", env={"ARGO_PATCHER_VOLUME_PREFIX": CLEAN_PREFIX})
    assert info.returncode == 0, info.stderr
    rows = {line.split()[0]: line for line in info.stdout.splitlines()[1:]}
    assert str(isolated_cache / "go") in rows["go-local"] and "6.0 KB" in rows["go-local"]
    assert "mirrors" in rows and "go-volume" in info.stdout
    assert "limit 20.0 GB: the least recently used trimmed after each release" in rows["go-total"]
    limited = run_cli("cache", "info", env={"ARGO_PATCHER_VOLUME_PREFIX": CLEAN_PREFIX, "ARGO_PATCHER_CACHE_LIMIT": "0"})
    assert "no limit" in limited.stdout
    clean = run_cli("cache", "clean", "--go", env={"ARGO_PATCHER_VOLUME_PREFIX": CLEAN_PREFIX})
    assert clean.returncode == 0, clean.stderr
    assert not (isolated_cache / "go").exists()
    assert f"removed {isolated_cache / 'go'}" in clean.stderr


def test_clean_mirrors_keeps_those_in_use(isolated_cache: Path, tmp_path: Path) -> None:
    from patcher.source.mirrors import Store

    store = Store(isolated_cache)
    idle = store.mirrors_dir / "idle-000"
    busy = store.mirrors_dir / "busy-000"
    source = gitrepo.make_repo(tmp_path / "source", ["v3.5.0"])
    for path in (idle, busy):
        path.parent.mkdir(parents=True, exist_ok=True)
        gitrepo.bare_clone(source, path)
    gitrepo.git(tmp_path, f"--git-dir={busy}", "worktree", "add", "-q", "--detach", str(tmp_path / "wt"), "v3.5.0")
    removed = state.clean(go=False, mirrors=True, store=store)
    assert [Path(e.name) for e in removed] == [idle]
    assert not idle.exists() and busy.exists()


@pytest.mark.docker
def test_clean_go_removes_the_volumes(docker_daemon: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGO_PATCHER_VOLUME_PREFIX", CLEAN_PREFIX)
    names = [f"{CLEAN_PREFIX}-gomodcache", f"{CLEAN_PREFIX}-gocache"]
    for name in names:
        docker_daemon.volumes.create(name)
    try:
        listed = {e.name: e for e in state.info() if e.kind == "go-volume"}
        assert set(listed) == set(names) and all(e.size == 0 for e in listed.values())
        removed = state.clean(go=True, mirrors=False)
        assert {e.name for e in removed if e.kind == "go-volume"} == set(names)
        assert not [v for v in docker_daemon.volumes.list() if v.name in names]
    finally:
        for volume in docker_daemon.volumes.list():
            if volume.name in names:
                volume.remove(force=True)


def test_remove_tree_handles_read_only_directories(tmp_path: Path) -> None:
    module = _read_only_module_cache(tmp_path)
    assert not os.access(module, os.W_OK) or os.geteuid() == 0 or stat.S_IMODE(module.stat().st_mode) == 0o555
    state.remove_tree(tmp_path / "go")
    assert not (tmp_path / "go").exists()


def test_human_sizes() -> None:
    assert state.human(None) == "?"
    assert state.human(999) == "999 B"
    assert state.human(1_500_000) == "1.5 MB"
    assert state.human(3_200_000_000) == "3.2 GB"


def test_clean_cluster_removes_only_what_argo_patcher_built(run_cli: Any, isolated_cache: Path, tmp_path: Path) -> None:
    from patcher.cluster import assets

    for recipe in assets.RECIPES:
        recipe.cache_dir.mkdir(parents=True)
        recipe.cached_binary.write_text("#!/bin/sh\n")
        recipe.cached_binary.chmod(0o755)
    elsewhere = tmp_path / "assets"
    elsewhere.mkdir()
    (elsewhere / "etcd").write_text("#!/bin/sh\n")
    done = run_cli("cache", "clean", "--cluster", env={"KUBEBUILDER_ASSETS": str(elsewhere)})
    assert done.returncode == 0, done.stderr
    assert not any(recipe.cache_dir.exists() for recipe in assets.RECIPES)
    assert (elsewhere / "etcd").exists()
