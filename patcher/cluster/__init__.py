"""Stage 10, cluster: the patched controller proved against a real Kubernetes API server
(etcd + kube-apiserver, no kubelet).

``ControllerProof`` is the further proof the pipeline runs with ``--cluster`` (the CLI wires it
in); ``prove_release`` builds the release's
``workflow-controller`` from the baseline tree (if any) and the patched tree with the runner's Go
and caches, starts one control plane in a network of its own, checks both controllers one after
the other, and returns a ``RunResult`` per controller whose tests are the contract's cases
(``HARNESS_TEST/<case id>``), so ``RunResult.cases`` reads them like the Go harness's.
Imports the top of ``patcher`` and every earlier stage.

The parts: ``assets`` (etcd and kube-apiserver, found or built), ``certs`` and ``kubeconfig``,
``controlplane`` (the two as child processes), ``cases`` (the contract as objects),
``suite`` (one controller's check), ``check`` (the entry point that runs in the private
network), ``isolation`` (where it runs), ``cli``; the controller is built by ``delivery.controller``.

``NodeProof`` is ``--cluster=node``: ``prove_on_node`` builds each tree's controller and argoexec,
makes their images (``nodeimages``), and runs ``nodecheck`` in namespaces of its own
(``isolation.run_node``): the control plane, a real node on it (``node``: containerd, CNI,
kube-controller-manager, kube-scheduler, kubelet), the release's own Argo installed on it and the
cases' workflows run as pods (``nodesuite``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from patcher.cluster import assets, isolation
from patcher.cluster.spec import CheckSpec, ControllerSpec
from patcher.delivery import controller
from patcher.errors import InfraError, PatcherError
from patcher.harness.contract import CASE_IDS
from patcher.run.pipeline import ProofRuns
from patcher.runners.base import BuildFailed, Runner
from patcher.runners.testresults import RunResult, RunStatus
from patcher.source.versions import Release

CRD_DIR = Path("manifests", "base", "crds", "minimal")
DEFAULT_TIMEOUT_S = 30 * 60
CHECK_TIMEOUT_S = 5 * 60  # control plane, CRDs and both controllers' cases, once the controllers are built


@dataclasses.dataclass
class ClusterProof:
    """What ``prove_release`` found: a result per controller, and where the time went."""

    baseline: RunResult | None
    patched: RunResult
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    mode: str = ""


class ControllerProof:
    """``--cluster``: each tree's own workflow-controller against a real API server (``pipeline.Proof``)."""

    name = "cluster"

    def preflight(self, runner_kind: str) -> None:
        preflight(mode_for(runner_kind))

    def prove(
        self, release: Release, baseline: Path | None, patched: Path, *, runner: Runner, timeout_s: float, packages: Sequence[str] = ()
    ) -> ProofRuns:
        proof = prove_release(baseline, patched, runner=runner, release_tag=release.name, timeout_s=timeout_s, mode=mode_for(runner.kind))
        details = {"mode": proof.mode, "seconds": {name: round(s, 1) for name, s in proof.timings.items()}}
        return ProofRuns(proof.baseline, proof.patched, details)


def mode_for(runner_kind: str) -> str:
    """Where the check runs for a run whose tests run with ``runner_kind``: beside Docker's, in a container."""
    return "container" if runner_kind == "docker" else "local"


def prove_release(
    baseline_tree: Path | None, patched_tree: Path, *, runner: Runner, release_tag: str, timeout_s: float = DEFAULT_TIMEOUT_S,
    mode: str = "auto", cases: Sequence[str] = CASE_IDS, run_id: str | None = None,
) -> ClusterProof:  # fmt: skip
    """Build each tree's controller and check both on one control plane: a result per controller
    (the baseline's None without a baseline tree), the timings (controller builds, control plane,
    each controller's cases, peak memory) and the mode it ran in. Raises ``InfraError`` only when nothing could run
    (no binaries and no Go to build them, no network namespace and no Docker)."""
    started = time.monotonic()
    deadline = started + timeout_s
    run_id = run_id or f"{release_tag}-cluster-{os.getpid()}"
    chosen_mode = isolation.choose_mode(mode)
    found = assets.ensure()
    trees = {"baseline": baseline_tree, "patched": patched_tree}
    results: dict[str, RunResult] = {}
    timings: dict[str, float] = {}
    with _scratch() as scratch:
        binaries: dict[str, Path] = {}
        for role, tree in trees.items():
            if tree is None:
                continue
            built_at = time.monotonic()
            try:
                binaries[role] = controller.build(
                    runner, Path(tree), scratch / role, release_tag=release_tag, timeout_s=max(1.0, deadline - built_at), run_id=f"{run_id}-{role}",
                    for_tests=True,
                )
            except BuildFailed as exc:
                results[role] = RunResult(exc.status, duration_s=time.monotonic() - built_at, message=f"the {role} workflow-controller: {exc}")
            timings[f"{role}_build_s"] = time.monotonic() - built_at
        if binaries:
            crd_dir = Path(patched_tree) / CRD_DIR
            spec = CheckSpec(
                etcd=str(found.etcd), kube_apiserver=str(found.kube_apiserver), crd_dir=str(crd_dir),
                controllers=tuple(ControllerSpec(role, str(path)) for role, path in binaries.items()),
                cases=tuple(cases), run_id=run_id,
            )  # fmt: skip
            if not crd_dir.is_dir():
                message = f"{release_tag} has no {CRD_DIR.as_posix()}: the cluster check needs its minimal CRDs (Argo v3.4.0 and later)"
                results.update({role: RunResult(RunStatus.INFRA_ERROR, message=message) for role in binaries})
            else:
                check_at = time.monotonic()
                outcome = isolation.run(spec, mode=chosen_mode, timeout_s=max(1.0, min(CHECK_TIMEOUT_S, deadline - check_at)), run_id=run_id)
                results.update(outcome.runs)
                timings.update(outcome.timings)
                timings["check_s"] = time.monotonic() - check_at
    timings["total_s"] = time.monotonic() - started
    return ClusterProof(results.get("baseline") if baseline_tree is not None else None, results["patched"], timings, chosen_mode)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="argo-patcher-controllers-") as scratch:
        yield Path(scratch)


def preflight(mode: str) -> None:
    """What a run with ``--cluster`` needs before any release starts, else its one run-wide error:
    etcd and kube-apiserver (built once when they are nowhere, saying so), and a way to isolate
    the control plane in ``mode``."""
    isolation.choose_mode(mode)
    try:
        assets.ensure()
    except PatcherError as exc:
        raise ClusterUnavailable(str(exc)) from None


class ClusterUnavailable(InfraError):
    """No control plane can be had: every release of the run would fail the same way."""

    run_wide = True


# -- --cluster=node: the release's own Argo on a real node -------------------------------------------

NODE_TIMEOUT_S = 15 * 60  # the node, both installs and both controllers' workflows, once the binaries are built


class NodeProof:
    """``--cluster=node``: each tree's controller and argoexec as images on a real node (``pipeline.Proof``)."""

    name = "node"

    def preflight(self, runner_kind: str) -> None:
        missing = isolation.node_prerequisites()
        if missing:
            raise ClusterUnavailable(f"--cluster=node needs {'; '.join(missing)}")
        try:
            assets.ensure()
            assets.ensure_node()
        except PatcherError as exc:
            raise ClusterUnavailable(str(exc)) from None

    def prove(
        self, release: Release, baseline: Path | None, patched: Path, *, runner: Runner, timeout_s: float, packages: Sequence[str] = ()
    ) -> ProofRuns:
        proof = prove_on_node(baseline, patched, runner=runner, release_tag=release.name, timeout_s=timeout_s)
        details = {"mode": proof.mode, "seconds": {name: round(s, 1) for name, s in proof.timings.items()}}
        return ProofRuns(proof.baseline, proof.patched, details)


def prove_on_node(
    baseline_tree: Path | None, patched_tree: Path, *, runner: Runner, release_tag: str, timeout_s: float = DEFAULT_TIMEOUT_S,
    cases: Sequence[str] = CASE_IDS, run_id: str | None = None,
) -> ClusterProof:  # fmt: skip
    """Build each tree's workflow-controller and argoexec, make their images, and run both on one
    node (``isolation.run_node``): a result per controller, the timings and peak memory."""
    from patcher.cluster import node as node_mod
    from patcher.cluster import nodecheck, nodeimages
    from patcher.delivery.controller import tree_ldflags
    from patcher.runners.gotest import NO_DWARF_GCFLAGS

    started = time.monotonic()
    deadline = started + timeout_s
    run_id = run_id or f"{release_tag}-node-{os.getpid()}"
    found, node_found = assets.ensure(), assets.ensure_node()
    trees = {"baseline": baseline_tree, "patched": patched_tree}
    results: dict[str, RunResult] = {}
    timings: dict[str, float] = {}
    with _scratch() as scratch:
        archives = nodeimages.small_archives(scratch, nodeimages.program())
        controllers = []
        for role, tree in trees.items():
            if tree is None:
                continue
            built_at = time.monotonic()
            try:
                binary = controller.build(runner, Path(tree), scratch / role, release_tag=release_tag, timeout_s=max(1.0, deadline - built_at),
                                          run_id=f"{run_id}-{role}", for_tests=True)  # fmt: skip
                executor = runner.build_binary(
                    Path(tree), nodeimages.ARGOEXEC_PACKAGE, scratch / f"{role}-argoexec", ldflags=tree_ldflags(Path(tree), release_tag),
                    gcflags=NO_DWARF_GCFLAGS, timeout_s=max(1.0, deadline - time.monotonic()), run_id=f"{run_id}-{role}-argoexec",
                )
            except BuildFailed as exc:
                results[role] = RunResult(exc.status, duration_s=time.monotonic() - built_at, message=f"the {role} workflow-controller or argoexec: {exc}")
                timings[f"{role}_build_s"] = time.monotonic() - built_at
                continue
            timings[f"{role}_build_s"] = time.monotonic() - built_at
            image, exec_image = nodeimages.controller_archive(scratch, binary, role), nodeimages.executor_archive(scratch, executor, role)
            archives += [image, exec_image]
            controllers.append(nodecheck.NodeController(role, image.name, exec_image.name))
        if controllers:
            crd_dir = Path(patched_tree) / CRD_DIR
            spec = nodecheck.NodeSpec(
                etcd=str(found.etcd), kube_apiserver=str(found.kube_apiserver), kube_controller_manager=str(node_found.kube_controller_manager),
                kube_scheduler=str(node_found.kube_scheduler), kubelet=str(node_found.kubelet), crd_dir=str(crd_dir),
                manifests_dir=str(Path(patched_tree) / "manifests"), images=tuple((str(a.path), a.name) for a in archives),
                cgroup=node_mod.cgroup_name(f"{len(controllers)}{int(time.time() * 1000) % 10**8}"), controllers=tuple(controllers),
                cases=tuple(cases), run_id=run_id,
            )  # fmt: skip
            check_at = time.monotonic()
            outcome = isolation.run_node(spec, timeout_s=max(1.0, min(NODE_TIMEOUT_S, deadline - check_at)), run_id=run_id)
            results.update(outcome.runs)
            timings.update(outcome.timings)
            timings["check_s"] = time.monotonic() - check_at
    timings["total_s"] = time.monotonic() - started
    return ClusterProof(results.get("baseline") if baseline_tree is not None else None, results["patched"], timings, "local")
