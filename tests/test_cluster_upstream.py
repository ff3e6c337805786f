"""The cluster proof end to end against the real upstream repository (ARGO_WORKFLOWS_REPO): a
release checked out and patched by `patcher apply`, its controller built unpatched and patched,
and both checked against one real API server, in a private network namespace and in a container.
Slow the first time (the controller's dependencies compile into the test cache volumes)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patcher import runners
from patcher.cluster import assets, prove_release
from patcher.harness.contract import CASE_IDS
from patcher.runners.testresults import RunStatus, Status
from patcher.session import Session
from tests.conftest import UPSTREAM_REPO
from tests.runner_support import can_unshare

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.docker]

# What a real v3.5.5 controller gets wrong unpatched: a holder's podMetadata never reaches the
# pods of templates reached by templateRef (upstream #12945).
BASELINE_FAILURES = {"holder-cluster", "holder-namespaced", "union", "all-three", "nested-by-name", "nested-innermost", "dag-task"}


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """v3.5.5 as argo-patcher checks it out (the baseline) and as `patcher apply` patches it."""
    if not UPSTREAM_REPO:
        pytest.skip("ARGO_WORKFLOWS_REPO is not set: point it at a clone or mirror of argoproj/argo-workflows")
    cache = tmp_path_factory.mktemp("cache")
    patched = tmp_path_factory.mktemp("v3.5.5") / "patched"
    applied = subprocess.run(
        [sys.executable, "-m", "patcher", "--repo", UPSTREAM_REPO, "apply", "--version", "v3.5.5", "--no-test", "--output", str(patched)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "ARGO_PATCHER_CACHE": str(cache)},
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    previous = os.environ.get("ARGO_PATCHER_CACHE")
    os.environ["ARGO_PATCHER_CACHE"] = str(cache)
    try:
        session = Session(UPSTREAM_REPO)
        with session.workspace() as workspace:
            yield workspace.checkout(session.resolve_one("v3.5.5")).path, patched
    finally:
        if previous is None:
            os.environ.pop("ARGO_PATCHER_CACHE", None)
        else:
            os.environ["ARGO_PATCHER_CACHE"] = previous


MODES: list[object] = [
    pytest.param("local", marks=pytest.mark.skipif(not can_unshare(), reason="no private network namespace can be made here")),
    "container",
]


@pytest.mark.parametrize("mode", MODES)
def test_unpatched_v355_fails_the_holder_cases_and_patched_passes_all(
    mode: str, trees: tuple[Path, Path], cluster_assets: assets.Assets, docker_daemon: object, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    kubebuilder = tmp_path / "kubebuilder-assets"  # the binaries the session found, where this test's isolated cache cannot
    kubebuilder.mkdir()
    (kubebuilder / "etcd").symlink_to(cluster_assets.etcd)
    (kubebuilder / "kube-apiserver").symlink_to(cluster_assets.kube_apiserver)
    monkeypatch.setenv(assets.ASSETS_ENV, str(kubebuilder))
    baseline_tree, patched_tree = trees
    runner = runners.prepare(patched_tree, runner="docker")
    proof = prove_release(baseline_tree, patched_tree, runner=runner, release_tag="v3.5.5", mode=mode)
    print(f"{mode}: {proof.timings}")
    assert proof.mode == mode
    assert proof.baseline is not None
    assert proof.baseline.status is RunStatus.OK, proof.baseline.message
    assert proof.patched.status is RunStatus.OK, proof.patched.message
    failed = {case for case, status in proof.baseline.cases.items() if status is not Status.PASS}
    assert failed == BASELINE_FAILURES, {name: t.output for name, t in proof.baseline.tests.items() if t.output}
    assert all(status is Status.PASS for status in proof.patched.cases.values()), {n: t.output for n, t in proof.patched.tests.items() if t.output}
    assert set(proof.patched.cases) == set(CASE_IDS)
    assert proof.timings["baseline_s"] + proof.timings["patched_s"] < 25
