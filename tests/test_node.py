"""--cluster=node: the node's configs, images, installs, cgroups and judgements (hermetic), and the
node for real (``node`` marker: root, containerd, the CNI plugins, writable cgroup v1 and the
five Kubernetes binaries; each test skips saying which is missing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from patcher.cluster import assets, isolation, node, nodeimages, nodesuite
from patcher.cluster.nodecheck import NodeController, NodeSpec
from patcher.runners.testresults import Status
from tests import gotools

# -- hermetic ----------------------------------------------------------------------------------------


def test_containerd_keeps_to_its_own_directory_and_runs_runc_with_cgroupfs(tmp_path: Path) -> None:
    text = node.containerd_config(tmp_path, runc="/usr/sbin/runc", cni_conf_dir=tmp_path / "net.d")
    assert f'root = "{tmp_path}/root"' in text and f'state = "{tmp_path}/state"' in text
    assert f'address = "{tmp_path}/containerd.sock"' in text
    assert "SystemdCgroup = false" in text and 'BinaryName = "/usr/sbin/runc"' in text
    assert f'sandbox_image = "{nodeimages.PAUSE_IMAGE}"' in text and "netns_mounts_under_state_dir = true" in text
    assert 'stream_server_address = "127.0.0.1"' in text  # nothing listens beyond loopback
    assert "restrict_oom_score_adj = true" in text  # without CAP_SYS_RESOURCE runc cannot give a sandbox CRI's -998


def test_kubelet_runs_as_kind_runs_it_in_a_container(tmp_path: Path) -> None:
    config = node.kubelet_config(runtime_socket=tmp_path / "c.sock", cgroup_root="/argo-patcher-node-1-2-x", ca_file=tmp_path / "ca.crt",
                                 pod_logs=tmp_path / "logs", port=1, healthz_port=2)  # fmt: skip
    assert config["cgroupDriver"] == "cgroupfs" and config["failSwapOn"] is False and config["failCgroupV1"] is False
    assert config["containerRuntimeEndpoint"] == f"unix://{tmp_path}/c.sock" and config["cgroupRoot"] == "/argo-patcher-node-1-2-x"
    assert config["address"] == config["healthzBindAddress"] == "127.0.0.1" and config["readOnlyPort"] == 0
    assert set(config["evictionHard"].values()) == {"0%"}


def test_the_pods_network_is_one_bridge_with_the_node_as_gateway(tmp_path: Path) -> None:
    (plugin,) = node.cni_config(tmp_path)["plugins"]
    assert plugin["type"] == "bridge" and plugin["bridge"] == node.BRIDGE and plugin["isGateway"]
    assert plugin["ipam"]["ranges"] == [[{"subnet": node.POD_SUBNET, "gateway": node.NODE_ADDRESS}]] and plugin["ipam"]["dataDir"] == str(tmp_path)
    calls: list[list[str]] = []

    class Done:
        returncode, stderr = 0, ""

    node.setup_network(lambda args, **_: calls.append(args) or Done())
    assert ["ip", "addr", "add", "10.0.0.1/32", "dev", node.BRIDGE] in calls  # the kubernetes Service's IP is the node's own


def test_a_docker_archive_names_its_image_and_holds_its_layer(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.write_bytes(b"\x7fELF...")
    pause, main = nodeimages.small_archives(tmp_path, program)
    assert (pause.name, main.name) == (nodeimages.PAUSE_IMAGE, nodeimages.MAIN_IMAGE)
    with tarfile.open(main.path) as tar:
        (manifest,) = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest["RepoTags"] == [nodeimages.MAIN_IMAGE]
        config = json.load(tar.extractfile(manifest["Config"]))  # type: ignore[arg-type]
        assert config["config"]["Entrypoint"] == ["/argosay"] and config["os"] == "linux"
        layer = tar.extractfile(manifest["Layers"][0]).read()  # type: ignore[union-attr]
    import hashlib
    import io

    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer)) as rootfs:
        assert rootfs.extractfile("argosay").read() == program.read_bytes()  # type: ignore[union-attr]


RELEASE_OBJECTS = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "workflow-controller-configmap"}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "argo"}},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "workflow-controller"}, "value": 1000000},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "argo-cluster-role"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "argo-binding"},
     "subjects": [{"kind": "ServiceAccount", "name": "argo", "namespace": "argo"}]},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "workflow-controller"},
     "spec": {"template": {"spec": {"containers": [{"name": "workflow-controller", "image": "quay.io/argoproj/workflow-controller:latest", "args": []}]}}}},
]  # fmt: skip


def test_the_releases_install_is_moved_into_the_namespace_with_the_images_built_here(tmp_path: Path) -> None:
    (tmp_path / "base" / "workflow-controller").mkdir(parents=True)
    (tmp_path / "cluster-install-no-crds" / "workflow-controller-rbac").mkdir(parents=True)  # where v4.1 has them
    (tmp_path / "base" / "workflow-controller" / "all.yaml").write_text(yaml.safe_dump_all(RELEASE_OBJECTS[:3] + RELEASE_OBJECTS[5:]))
    (tmp_path / "base" / "workflow-controller" / "kustomization.yaml").write_text("resources: [all.yaml]\n")
    (tmp_path / "cluster-install-no-crds" / "workflow-controller-rbac" / "rbac.yaml").write_text(yaml.safe_dump_all(RELEASE_OBJECTS[3:5]))
    objects = nodesuite.release_manifests(tmp_path)
    assert sorted(o["kind"] for o in objects) == sorted(o["kind"] for o in RELEASE_OBJECTS)
    made = {o["kind"]: o for o in nodesuite.install_objects(objects, "patched", "localhost/c:patched", "localhost/e:patched", {"k": "v"})}
    assert made["ServiceAccount"]["metadata"]["namespace"] == "patched" and "namespace" not in made["ClusterRole"]["metadata"]
    assert made["ClusterRoleBinding"]["metadata"]["name"] == "argo-binding-patched"
    assert made["ClusterRoleBinding"]["subjects"][0]["namespace"] == "patched"
    assert made["ConfigMap"]["data"] == {"k": "v"}
    container = made["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "localhost/c:patched" and container["imagePullPolicy"] == "Never"
    assert container["args"] == ["--executor-image", "localhost/e:patched", "--namespaced", "--managed-namespace", "patched"]
    assert RELEASE_OBJECTS[5]["spec"]["template"]["spec"]["containers"][0]["args"] == []  # the release's objects are left as they were


def test_the_node_cases_reach_a_holder_through_a_retry_and_an_exit_handler() -> None:
    retry = nodesuite.NODE_CASES["retry"]
    (template,) = retry.cluster_workflow_templates[0]["spec"]["templates"]
    assert template["retryStrategy"]["limit"] == 1 and template["container"]["args"] == ["fail-first", "{{retries}}"]
    exit_handler = nodesuite.NODE_CASES["exit-handler"]
    spec = exit_handler.workflows[0]["spec"]
    assert spec["onExit"] == "exit" and any("templateRef" in step for t in spec["templates"] if t["name"] == "exit" for s in t["steps"] for step in s)


def _pod(name: str, phase: str, labels: dict[str, str], node_name: str = "") -> dict[str, object]:
    return {"metadata": {"name": name, "labels": {"workflows.argoproj.io/workflow": name.split(".")[0], **labels},
                         "annotations": {nodesuite.NODE_NAME_ANNOTATION: node_name or name, "note": labels.get("team", "")}},
            "status": {"phase": phase}}  # fmt: skip


def test_a_case_is_judged_on_pods_that_ran_and_a_workflow_that_succeeded() -> None:
    from patcher.cluster import cases as case_defs

    (case,) = case_defs.build(["holder-cluster"], namespace="ns", cluster_prefix="ns")
    wf = {"metadata": {"name": "holder-cluster"}, "status": {"phase": "Running"}}
    pods = {("ns", "holder-cluster"): [_pod("holder-cluster", "Succeeded", {"tier": "base"})]}
    pods["ns", "holder-cluster"][0]["metadata"]["annotations"]["note"] = "base"  # type: ignore[index]
    assert nodesuite._judge(None, case, "ns", pods, {("ns", "holder-cluster"): wf}, {}) is None  # type: ignore[arg-type]
    wf["status"]["phase"] = "Succeeded"  # type: ignore[index]
    assert nodesuite._judge(None, case, "ns", pods, {("ns", "holder-cluster"): wf}, {}) == (Status.PASS, "")  # type: ignore[arg-type]
    pods["ns", "holder-cluster"][0]["metadata"]["labels"].pop("tier")  # type: ignore[index,union-attr]
    status, output = nodesuite._judge(None, case, "ns", pods, {("ns", "holder-cluster"): wf}, {})  # type: ignore[arg-type,misc]
    assert status is Status.FAIL and "label tier" in output
    retry = nodesuite.NODE_CASES["retry"]
    one = [_pod("retry.a", "Succeeded", {"team": "holder"})]
    status, output = nodesuite._judge(None, retry, "default", {("default", "retry"): one}, {("default", "retry"): wf}, {})  # type: ignore[arg-type,misc]
    assert status is Status.FAIL and "1 pods to judge, want 2" in output


def test_cgroups_of_a_run_that_is_gone_are_reaped_and_a_live_ones_kept(tmp_path: Path) -> None:
    every = ("cpu", "memory", "pids", "unified")  # unified: a hybrid host's v2 tree, where runc makes cgroups too
    for hierarchy in every:
        (tmp_path / hierarchy).mkdir()
        (tmp_path / hierarchy / "cgroup.procs").write_text("")
    assert [h.name for h in node.hierarchies(tmp_path)] == ["cpu", "memory", "pids"]
    mine = node.cgroup_name("a")
    dead = f"{node.CGROUP_PREFIX}999999-12345-b"
    for name in (mine, dead):
        for hierarchy in every:
            (tmp_path / hierarchy / name / "kubepods" / "besteffort").mkdir(parents=True)
    assert node.reap_cgroups(tmp_path) == [dead]
    assert all((tmp_path / h / mine).is_dir() and not (tmp_path / h / dead).exists() for h in every)
    assert node.remove_cgroups(mine, tmp_path) == []
    assert not any((tmp_path / h / mine).exists() for h in every)


def test_the_node_spec_round_trips_through_json() -> None:
    spec = NodeSpec("e", "a", "m", "s", "k", "crds", "manifests", (("/x.tar", "n:1"),), "cg", (NodeController("patched", "c", "x"),), ("union",))
    assert NodeSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


# -- for real ----------------------------------------------------------------------------------------




def _node_or_skip(monkeypatch: pytest.MonkeyPatch) -> tuple[assets.Assets, assets.NodeAssets]:
    """The five binaries (found as a run finds them, in the user's cache too), or a skip saying what is missing."""
    missing = isolation.node_prerequisites()
    if missing:
        pytest.skip(f"--cluster=node needs {'; '.join(missing)}")
    with gotools.users_cache():
        found, node_found = assets.find(), assets.find_node()
        missing_binaries = assets.missing(assets.ALL_RECIPES)
    if found is not None and node_found is not None:  # where this test's isolated cache finds them too
        kubebuilder = Path(os.environ["ARGO_PATCHER_CACHE"]) / "kubebuilder-assets"
        kubebuilder.mkdir(parents=True, exist_ok=True)
        for path in (found.etcd, found.kube_apiserver, node_found.kube_controller_manager, node_found.kube_scheduler, node_found.kubelet):
            if not (kubebuilder / path.name).exists():
                (kubebuilder / path.name).symlink_to(path)
        monkeypatch.setenv(assets.ASSETS_ENV, str(kubebuilder))
    if found is None or node_found is None:
        pytest.skip(f"no {', '.join(missing_binaries)}: run `patcher cluster build --node` or point KUBEBUILDER_ASSETS at them")
    return found, node_found


def _leftovers() -> list[str]:
    left = [p.name for h in node.hierarchies() for p in h.glob(f"{node.CGROUP_PREFIX}*")]
    mounts = Path("/proc/self/mountinfo").read_text()
    left += [line.split()[4] for line in mounts.splitlines() if "argo-patcher-node-" in line]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "patcher.cluster.nodecheck" in cmdline or "argo-patcher-node-" in cmdline:
                left.append(f"process {proc.name}: {cmdline[:80]}")
    return left


@pytest.mark.node
def test_a_node_starts_runs_a_pod_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _smoke_spec(tmp_path, monkeypatch, node.cgroup_name("test"))
    started = time.monotonic()
    result = isolation.run_node(spec, timeout_s=300, run_id="test-node")
    took = time.monotonic() - started
    print(f"node check: {took:.1f}s, timings {result.timings}, message {result.message!r}")
    smoke = result.runs["smoke"]
    assert smoke.tests, smoke.message
    assert smoke.tests["NodeSmoke/pod"].status is Status.PASS, smoke.tests["NodeSmoke/pod"].output
    assert result.timings["node_start_s"] > 0
    assert _leftovers() == []


_A_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "things.example.com"},
    "spec": {"group": "example.com", "names": {"kind": "Thing", "plural": "things"}, "scope": "Namespaced",
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}]},
}  # fmt: skip


# What a real v3.5.5 gets wrong unpatched, on real pods too: the holder's podMetadata never
# reaches the pods of templates reached by templateRef (upstream #12945); so do the retry's and
# the exit handler's, which reach a holder.
BASELINE_FAILURES = {"holder-cluster", "holder-namespaced", "union", "all-three", "nested-by-name", "nested-innermost", "dag-task"}


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.docker
def test_v355_on_a_real_node_unpatched_fails_the_holder_cases_and_patched_passes_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from patcher import runners
    from patcher.cluster import prove_on_node
    from patcher.harness.contract import CASE_IDS
    from patcher.runners.testresults import RunStatus
    from patcher.session import Session
    from tests.conftest import UPSTREAM_REPO

    _node_or_skip(monkeypatch)
    if not UPSTREAM_REPO:
        pytest.skip("ARGO_WORKFLOWS_REPO is not set: point it at a clone or mirror of argoproj/argo-workflows")
    patched = tmp_path / "patched"
    applied = subprocess.run([sys.executable, "-m", "patcher", "--repo", UPSTREAM_REPO, "apply", "--version", "v3.5.5", "--no-test", "--output", str(patched)],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    session = Session(UPSTREAM_REPO)
    with session.workspace() as workspace:
        baseline = workspace.checkout(session.resolve_one("v3.5.5")).path
        proof = prove_on_node(baseline, patched, runner=runners.prepare(patched, runner="docker"), release_tag="v3.5.5")
    print(f"node proof of v3.5.5: {proof.timings}")
    assert proof.baseline is not None and proof.baseline.status is RunStatus.OK, proof.baseline.message if proof.baseline else ""
    assert proof.patched.status is RunStatus.OK, proof.patched.message
    failed = {case for case, status in proof.baseline.cases.items() if status is not Status.PASS}
    assert failed == BASELINE_FAILURES, {c: proof.baseline.tests[f"TestPodMetadataPrecedence/{c}"].output for c in failed}
    assert {n for n, t in proof.baseline.tests.items() if n.startswith("NodeProof/") and t.status is not Status.PASS} == {"NodeProof/retry", "NodeProof/exit-handler"}
    problems = {n: t.output for n, t in proof.patched.tests.items() if t.status is not Status.PASS}
    assert not problems and set(proof.patched.cases) == set(CASE_IDS)
    assert _leftovers() == []


def test_cluster_node_is_a_proof_level_beside_cluster() -> None:
    import click
    from click.testing import CliRunner

    from patcher.cli import later_stages, prove_options, prove_options_from
    from patcher.options import RunOptions

    seen = []

    @click.command()
    @prove_options
    def command(**kwargs: object) -> None:
        seen.append(prove_options_from(kwargs))

    for args in ([], ["--cluster"], ["--cluster=node"], ["--cluster", "node", "--no-baseline"]):
        assert CliRunner().invoke(command, args).exit_code == 0
    assert [(o.cluster, o.node) for o in seen if o is not None] == [(False, False), (True, False), (False, True), (False, True)]
    assert seen[2] is not None and seen[2].command_line() == ["--cluster=node"]
    proofs = later_stages(RunOptions(prove=seen[2])).proofs
    assert [p.name for p in proofs] == ["node"]
    from patcher.runners.testresults import LEVELS_BY_NAME

    assert LEVELS_BY_NAME["node"].column == "node"


def _smoke_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cgroup: str) -> NodeSpec:
    """The node check with no controller (one pod run to completion), its images and a CRD in ``tmp_path``."""
    found, node_found = _node_or_skip(monkeypatch)
    archives = nodeimages.small_archives(tmp_path, nodeimages.program())
    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / "crd.yaml").write_text(yaml.safe_dump(_A_CRD))
    return NodeSpec(str(found.etcd), str(found.kube_apiserver), str(node_found.kube_controller_manager), str(node_found.kube_scheduler),
                    str(node_found.kubelet), str(crds), str(tmp_path), tuple((str(a.path), a.name) for a in archives), cgroup)  # fmt: skip


# The smoke check run by a process of its own, as argo-patcher runs it: its cgroups are named by
# that process (whose death lets the next run reap them) and by argv[2].
_SMOKE_RUN = """
import dataclasses, json, sys
from pathlib import Path
from patcher.cluster import isolation, node, nodecheck
spec = nodecheck.NodeSpec.from_json(json.loads(Path(sys.argv[1]).read_text()))
try:
    isolation.run_node(dataclasses.replace(spec, cgroup=node.cgroup_name(sys.argv[2])), timeout_s=600, run_id=f"test-node-{sys.argv[2]}")
except KeyboardInterrupt:
    sys.exit(130)
"""


def _smoke_run_started(token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> subprocess.Popen[bytes]:
    """The smoke check started in a session of its own, returned once its node has made its
    cgroups (named by ``token``) and had a few seconds to start kubelet and a pod."""
    spec = _smoke_spec(tmp_path, monkeypatch, "")
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_json()))
    run = subprocess.Popen([sys.executable, "-c", _SMOKE_RUN, str(tmp_path / "spec.json"), token], start_new_session=True,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})  # fmt: skip
    deadline = time.monotonic() + 180
    while not any(p.name.endswith(f"-{token}") for h in node.hierarchies() for p in h.glob(f"{node.CGROUP_PREFIX}*")):
        assert time.monotonic() < deadline and run.poll() is None, "the node never made its cgroups"
        time.sleep(0.5)
    time.sleep(5)  # kubelet and containerd running, the smoke pod being made
    return run


@pytest.mark.node
def test_what_a_killed_node_run_left_is_removed_by_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from patcher.runners import childprocs

    run = _smoke_run_started("killed", tmp_path, monkeypatch)
    os.killpg(run.pid, signal.SIGKILL)  # the run, not the node check (a session of its own): as a kill -9 leaves it
    run.wait()
    assert _leftovers()  # the node check is still there, its cgroups too
    childprocs.reap_orphans("cluster", "a cluster check process")  # what the next run does first
    deadline = time.monotonic() + 30
    while any("patcher.cluster.nodecheck" in item for item in _leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    node.reap_cgroups()
    assert _leftovers() == []


@pytest.mark.node
def test_ctrl_c_in_the_middle_of_a_node_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    run = _smoke_run_started("interrupted", tmp_path, monkeypatch)
    os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: to the whole foreground group
    assert run.wait(timeout=120) == 130
    assert _leftovers() == []  # with no reaping by a next run


class _FakeClient:
    """Answers the suite's polls from a dict of objects; records what it is asked to create."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, object]]] = {"Pod": [], "Workflow": []}
        self.created: list[dict[str, object]] = []

    def items(self, kind: str, namespace: str | None = None, **_: object) -> list[dict[str, object]]:
        return [o for o in self.objects.get(kind, []) if o["metadata"].get("namespace") == namespace]  # type: ignore[union-attr]

    def create(self, obj: dict[str, object]) -> dict[str, object]:
        self.created.append(obj)
        return obj

    def read(self, kind: str, name: str, namespace: str | None = None) -> dict[str, object]:
        return next(o for o in self.created if o["metadata"]["name"] == name)  # type: ignore[index]


def _workflow(name: str, phase: str, message: str = "") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ns"}, "status": {"phase": phase, "message": message}}


def test_missing_template_passes_once_the_workflow_after_it_succeeds_and_every_workflow_must_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    from patcher.cluster import cases as case_defs

    client = _FakeClient()
    missing, nothing = case_defs.build(["missing-template", "nothing-set"], namespace="ns", cluster_prefix="ns")
    group = nodesuite.Group("ns", [missing, nothing], [], {})
    client.objects["Workflow"] = [_workflow("missing-template", "Error", "template absent not found"), _workflow("nothing-set", "Failed")]
    client.objects["Pod"] = [{"metadata": {"name": "p", "namespace": "ns", "labels": {"workflows.argoproj.io/workflow": "nothing-set"},
                                           "annotations": {"workflows.argoproj.io/node-id": "x"}}, "status": {"phase": "Failed"}}]  # fmt: skip
    original = nodesuite._snapshot

    def snapshot(c: object, namespaces: list[str]) -> object:
        if any(o["metadata"]["name"] == "missing-template-after" for o in client.created):  # type: ignore[index]
            client.objects["Workflow"].append(_workflow("missing-template-after", "Succeeded"))
        return original(c, namespaces)  # type: ignore[arg-type]

    monkeypatch.setattr(nodesuite, "_snapshot", snapshot)
    tests = nodesuite._poll(client, [group], time.monotonic() + 10, time.monotonic())  # type: ignore[arg-type]
    assert tests["TestPodMetadataPrecedence/missing-template"].status is Status.PASS
    assert [o["metadata"]["name"] for o in client.created] == ["missing-template-after"]  # type: ignore[index]
    assert tests["TestPodMetadataPrecedence/nothing-set"].status is Status.FAIL  # its workflow Failed
    assert tests["NodeProof/succeeded"].status is Status.FAIL and "nothing-set: Failed" in tests["NodeProof/succeeded"].output
