"""The control plane for real: etcd and kube-apiserver started, waited on, used and stopped in
order, and what a killed run left reaped. Needs the binaries (KUBEBUILDER_ASSETS, PATH, or
argo-patcher's cache from `patcher cluster build`); builds them once when only Go is there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from patcher.cluster.assets import Assets
from patcher.cluster.controlplane import ControlPlane
from patcher.cluster.kubeapi import ApiError
from patcher.runners import childprocs
from patcher.runners import childprocs as processes
from tests.runner_support import REPO_ROOT, wait_for

pytestmark = pytest.mark.cluster

def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_start_serve_and_stop_in_order(cluster_assets: Assets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[str] = []
    original_stop = processes.Process.stop

    def recording_stop(self: processes.Process, grace_s: float = processes.STOP_GRACE_S) -> None:
        if self.alive():
            stopped.append(self.name)
        original_stop(self, grace_s)

    monkeypatch.setattr(processes.Process, "stop", recording_stop)
    with ControlPlane(cluster_assets, tmp_path / "plane", "lifecycle-test") as plane:
        assert [child.name for child in plane.children] == ["etcd", "kube-apiserver"]
        assert plane.timings["start_s"] > plane.timings["etcd_s"] > 0
        assert plane.client.session.get(f"{plane.server}/readyz", timeout=5).text == "ok"
        created = plane.client.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": "default"}, "data": {"k": "v"}}
        )
        assert created["metadata"]["uid"]
        assert plane.client.read("ConfigMap", "probe", "default")["data"] == {"k": "v"}
        with pytest.raises(ApiError) as raised:
            plane.client.read("ConfigMap", "absent", "default")
        assert raised.value.status == 404
        sleeper = plane.start_child("controller", ["sleep", "300"])
        pids = [child.pid for child in plane.children]
        assert plane.kubeconfig.is_file() and plane.server in plane.kubeconfig.read_text()
        records = sorted(p.name for p in childprocs.runs_dir().glob("cluster-*.json"))
        assert len(records) == 3
    assert stopped == ["controller", "kube-apiserver", "etcd"]
    assert not any(_alive(pid) for pid in pids)
    assert sleeper.exit_code() is not None
    assert list(childprocs.runs_dir().glob("cluster-*.json")) == []


def test_an_interrupted_start_leaves_nothing_running(cluster_assets: Assets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plane = ControlPlane(cluster_assets, tmp_path / "plane", "lifecycle-test")
    started: list[int] = []
    original = ControlPlane._start_apiserver

    def interrupted(self: ControlPlane, etcd_url: str) -> None:
        started.extend(child.pid for child in self.children)
        raise KeyboardInterrupt

    monkeypatch.setattr(ControlPlane, "_start_apiserver", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with plane:
            pytest.fail("started")
    monkeypatch.setattr(ControlPlane, "_start_apiserver", original)
    assert started and not any(_alive(pid) for pid in started)


DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from patcher.runners import childprocs as processes
    from patcher.cluster.assets import Assets
    from patcher.cluster.controlplane import ControlPlane

    processes._die_with_parent = lambda: None  # as where PR_SET_PDEATHSIG is not to be had
    etcd, apiserver, workdir = sys.argv[1:4]
    plane = ControlPlane(Assets(Path(etcd), Path(apiserver)), Path(workdir), "killed-run")
    plane.start()
    print(" ".join(str(child.pid) for child in plane.children), flush=True)
    time.sleep(600)
    """
)


def test_the_next_run_reaps_what_a_killed_run_left(cluster_assets: Assets, tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    driver = subprocess.Popen(
        [sys.executable, str(script), str(cluster_assets.etcd), str(cluster_assets.kube_apiserver), str(tmp_path / "plane")],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    pids: list[int] = []
    try:
        line = driver.stdout.readline() if driver.stdout else ""
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 2, f"the driver said {line!r}"
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
        time.sleep(0.5)
        assert all(_alive(pid) for pid in pids), "killing the run must not have stopped its children (the case being tested)"
        records = [json.loads(p.read_text()) for p in childprocs.runs_dir().glob("cluster-*.json")]
        assert sorted(r["pgid"] for r in records) == sorted(pids)
        assert sorted(processes.reap_orphans("cluster", "a control-plane process")) == sorted(pids)
        wait_for(lambda: not any(_alive(pid) for pid in pids), 30, "the reaped processes to end")
        assert list(childprocs.runs_dir().glob("cluster-*.json")) == []
    finally:
        driver.kill()
        for pid in pids:
            childprocs.kill_group(pid)


def test_children_die_with_a_killed_check(cluster_assets: Assets, tmp_path: Path) -> None:
    """Where Linux allows, a check killed outright takes its children with it at once."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.replace("processes._die_with_parent = lambda: None", "pass"))
    driver = subprocess.Popen(
        [sys.executable, str(script), str(cluster_assets.etcd), str(cluster_assets.kube_apiserver), str(tmp_path / "plane")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    pids: list[int] = []
    try:
        pids = [int(pid) for pid in (driver.stdout.readline() if driver.stdout else "").split()]
        assert len(pids) == 2
        driver.kill()
        driver.wait(30)
        wait_for(lambda: not any(_alive(pid) for pid in pids), 30, "the children of the killed check to end")
        processes.reap_orphans("cluster", "a control-plane process")  # their records, left behind, go too
        assert list(childprocs.runs_dir().glob("cluster-*.json")) == []
    finally:
        driver.kill()
        for pid in pids:
            childprocs.kill_group(pid)
