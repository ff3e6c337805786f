"""``python -m patcher.cluster.nodecheck SPEC.json``: a release's node proof, printed as JSON.

Run by ``isolation.run_node`` as the first process of new network, mount and PID namespaces
(root only). It brings the loopback and the pods' bridge up, starts the control plane (its API
server serving the pods too), installs the release's CRDs, starts the node (``node.Node``:
containerd with the images imported, kube-controller-manager, kube-scheduler, kubelet) and waits
for it to be Ready; then, for each controller of the spec, installs the release's own Argo with
the locally built images and runs the contract's workflows on real pods (``nodesuite``). With no
controller it runs one pod to completion (``smoke``), which is what the node's own test asks.
Prints a ``CheckResult`` on stdout (timings: ``node_start_s``, peaks); the rest goes to stderr.

SIGTERM is handled like Ctrl-C: the node and the control plane are stopped in order first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from patcher.cluster import node as node_mod
from patcher.cluster import nodesuite
from patcher.cluster.assets import Assets, NodeAssets
from patcher.cluster.check import bring_loopback_up, install_crds, run_main
from patcher.cluster.controlplane import ControlPlane
from patcher.cluster.kubeapi import ApiError, KubeClient
from patcher.cluster.nodeimages import MAIN_IMAGE, Archive
from patcher.cluster.spec import CheckResult
from patcher.errors import InfraError, InputError
from patcher.harness.contract import CASE_IDS
from patcher.runners.testresults import RunResult, RunStatus, Status, TestResult

SMOKE_TIMEOUT_S = 60.0
LOGS_ENV = "ARGO_PATCHER_NODE_LOGS"


@dataclasses.dataclass(frozen=True)
class NodeController:
    """One controller to prove on the node: its role and the images of its tree."""

    role: str
    controller_image: str
    executor_image: str


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    etcd: str
    kube_apiserver: str
    kube_controller_manager: str
    kube_scheduler: str
    kubelet: str
    crd_dir: str
    manifests_dir: str  # the release's manifests/ (base/workflow-controller, cluster-install/workflow-controller-rbac)
    images: tuple[tuple[str, str], ...]  # (docker-archive path, image name)
    cgroup: str
    controllers: tuple[NodeController, ...] = ()
    cases: tuple[str, ...] = CASE_IDS
    run_id: str = "node-check"
    cases_timeout_s: float = nodesuite.DEFAULT_TIMEOUT_S

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["images"] = [list(i) for i in self.images]
        data["controllers"] = [dataclasses.asdict(c) for c in self.controllers]
        data["cases"] = list(self.cases)
        return data

    @classmethod
    def from_json(cls, data: Any) -> NodeSpec:
        try:
            return cls(
                **{k: str(data[k]) for k in ("etcd", "kube_apiserver", "kube_controller_manager", "kube_scheduler", "kubelet", "crd_dir",
                                             "manifests_dir", "cgroup")},
                images=tuple((str(p), str(n)) for p, n in data["images"]),
                controllers=tuple(NodeController(str(c["role"]), str(c["controller_image"]), str(c["executor_image"])) for c in data.get("controllers", [])),
                cases=tuple(str(c) for c in data.get("cases", CASE_IDS)),
                run_id=str(data.get("run_id", "node-check")),
                cases_timeout_s=float(data.get("cases_timeout_s", nodesuite.DEFAULT_TIMEOUT_S)),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"the node check spec lacks or mistypes a field ({type(exc).__name__}: {exc}); see patcher/cluster/nodecheck.py") from None


def run_node_check(spec: NodeSpec) -> CheckResult:
    bring_loopback_up()
    node_mod.setup_network()
    result = CheckResult(runs={})
    assets = Assets(Path(spec.etcd), Path(spec.kube_apiserver))
    node_assets = NodeAssets(Path(spec.kube_controller_manager), Path(spec.kube_scheduler), Path(spec.kubelet))
    archives = [Archive(Path(path), name) for path, name in spec.images]
    roles = [c.role for c in spec.controllers] or ["smoke"]
    with tempfile.TemporaryDirectory(prefix="argo-patcher-node-") as scratch:
        try:
            with ControlPlane(assets, Path(scratch, "plane"), spec.run_id, node_address=node_mod.NODE_ADDRESS) as plane:
                result.timings.update(control_plane_s=plane.timings["start_s"])
                install_crds(plane, Path(spec.crd_dir))
                with node_mod.Node(plane, node_assets, Path(scratch, "node"), archives, cgroup=spec.cgroup) as node:
                    result.timings.update(node_start_s=node.timings["start_s"], node_images_s=node.timings["images_s"])
                    if not spec.controllers:
                        result.runs["smoke"] = smoke(plane.client)
                    for controller in spec.controllers:
                        run = nodesuite.run(plane, controller.role, Path(spec.manifests_dir), controller.controller_image, controller.executor_image,
                                            spec.cases, timeout_s=spec.cases_timeout_s)  # fmt: skip
                        result.runs[controller.role] = run
                        result.timings[f"{controller.role}_s"] = run.duration_s
                    result.timings.update(_peaks([*plane.children, *node.children]))
        except (InfraError, ApiError) as exc:
            result.message = f"the node failed: {exc}"
            for role in roles:
                result.runs.setdefault(role, RunResult(RunStatus.INFRA_ERROR, message=result.message))
        finally:
            _keep_logs(Path(scratch))
    return result


def _keep_logs(scratch: Path) -> None:
    """With ``ARGO_PATCHER_NODE_LOGS=DIR``: the logs of every process of the node and the control plane, kept there."""
    target = os.environ.get(LOGS_ENV)
    if not target:
        return
    for part in ("plane", "node"):
        with contextlib.suppress(OSError):
            shutil.copytree(scratch / part / "logs", Path(target) / part, dirs_exist_ok=True)


def _peaks(processes: list[Any]) -> dict[str, float]:
    return {f"{p.name}_peak_mib": p.current_peak_rss() / 2**20 for p in processes if p.current_peak_rss()}


def smoke(client: KubeClient) -> RunResult:
    """One pod of the main-container image, run to completion on the node."""
    started = time.monotonic()
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "smoke", "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": MAIN_IMAGE, "command": ["/argosay", "smoke"],
                                                           "imagePullPolicy": "Never"}]},
    }  # fmt: skip
    nodesuite.wait_for_service_account(client, "default", time.monotonic() + 30)
    client.create(pod)
    phase = ""
    while time.monotonic() - started < SMOKE_TIMEOUT_S:
        phase = str((client.read("Pod", "smoke", "default").get("status") or {}).get("phase") or "")
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(0.2)
    status = Status.PASS if phase == "Succeeded" else Status.FAIL
    test = TestResult("NodeSmoke/pod", status, time.monotonic() - started, f"the pod ended {phase or 'never'}")
    return RunResult(RunStatus.OK, {test.name: test}, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    def check(path: Path) -> CheckResult:
        return run_node_check(NodeSpec.from_json(json.loads(path.read_text())))

    return run_main(argv, "patcher.cluster.nodecheck", check, "the node check", "the node and the control plane were stopped")


if __name__ == "__main__":
    sys.exit(main())
