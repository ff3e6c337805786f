"""The cluster proof's parts that need no etcd and no API server: certificates, kubeconfig,
finding the binaries, the spec and result JSON, the cases and their judgements, the controller's
build flags, and a control plane whose binaries fail."""

from __future__ import annotations

import base64
import datetime
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from patcher.cluster import assets, cases, certs, isolation, kubeconfig
from patcher.cluster.assets import Assets
from patcher.cluster.controlplane import ControlPlane, free_ports
from patcher.cluster.spec import CheckResult, CheckSpec, ControllerSpec
from patcher.delivery import controller
from patcher.errors import InfraError, InputError
from patcher.harness import cases as contract_cases
from patcher.harness.contract import CASE_IDS, HARNESS_TEST
from patcher.patching.gomod import GoVersion
from patcher.runners import childprocs, engine, hostgo, images
from patcher.runners.base import BuildFailed
from patcher.runners.testresults import RunResult, RunStatus, Status, TestResult
from tests import gitrepo
from tests.runner_support import can_unshare

# -- certificates and kubeconfig ------------------------------------------------------------------


def test_certificates_chain_to_one_ca_with_the_right_names_and_usages(tmp_path: Path) -> None:
    made = certs.generate()
    ca = x509.load_pem_x509_certificate(made.ca.cert_pem)
    serving = x509.load_pem_x509_certificate(made.serving.cert_pem)
    client = x509.load_pem_x509_certificate(made.client.cert_pem)
    for leaf in (serving, client):
        leaf.verify_directly_issued_by(ca)
        assert leaf.not_valid_before_utc < datetime.datetime.now(datetime.timezone.utc) < leaf.not_valid_after_utc
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert ExtendedKeyUsageOID.SERVER_AUTH in serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [a.value for a in client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == certs.ADMIN_USER
    assert b"PUBLIC KEY" in made.service_account_public_pem and b"PRIVATE KEY" in made.service_account_key_pem

    files = made.write(tmp_path / "pki")
    assert files.client_cert.read_bytes() == made.client.cert_pem
    for key in (files.serving_key, files.client_key, files.service_account_key, files.ca_cert):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_every_run_gets_new_certificates() -> None:
    assert certs.generate().ca.cert_pem != certs.generate().ca.cert_pem


def test_kubeconfig_carries_the_certificates_inline_and_the_namespace() -> None:
    made = certs.generate()
    text = kubeconfig.render("https://127.0.0.1:6443", ca_pem=made.ca.cert_pem, client_cert_pem=made.client.cert_pem,
                             client_key_pem=made.client.key_pem, namespace="baseline-abc")  # fmt: skip
    config = yaml.safe_load(text)
    assert config["current-context"] == kubeconfig.CONTEXT
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == made.ca.cert_pem
    (user,) = config["users"]
    assert base64.b64decode(user["user"]["client-certificate-data"]) == made.client.cert_pem
    assert base64.b64decode(user["user"]["client-key-data"]) == made.client.key_pem
    assert config["contexts"][0]["context"]["namespace"] == "baseline-abc"
    assert "namespace" not in yaml.safe_load(kubeconfig.render("https://x", ca_pem=b"a", client_cert_pem=b"b", client_key_pem=b"c"))["contexts"][0]["context"]


# -- finding and building the binaries ------------------------------------------------------------


def _fake_binaries(directory: Path, names: tuple[str, ...] = ("etcd", "kube-apiserver")) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return directory


@pytest.fixture
def no_assets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No binaries anywhere: no KUBEBUILDER_ASSETS, a PATH without them, an empty cache."""
    monkeypatch.delenv(assets.ASSETS_ENV, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def test_lookup_prefers_kubebuilder_assets_then_path_then_cache(no_assets: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert assets.find() is None
    assert assets.missing() == ["etcd", "kube-apiserver"]

    for recipe in assets.RECIPES:
        _fake_binaries(recipe.cache_dir, (recipe.name,))
    found = assets.find()
    assert found is not None
    assert found.etcd == assets.ETCD.cached_binary and found.sources == {"etcd": "cache", "kube-apiserver": "cache"}
    assert f"/cluster/etcd-{assets.ETCD_VERSION}/etcd" in str(found.etcd)  # the pinned version is in the path
    assert f"/cluster/kube-apiserver-{assets.KUBERNETES_VERSION}/kube-apiserver" in str(found.kube_apiserver)

    on_path = _fake_binaries(tmp_path / "on-path")
    monkeypatch.setenv("PATH", f"{no_assets}{os.pathsep}{on_path}")
    found = assets.find()
    assert found is not None and found.etcd == on_path / "etcd" and found.sources["etcd"] == "PATH"

    kubebuilder = _fake_binaries(tmp_path / "kubebuilder", ("kube-apiserver",))  # etcd missing there: the next place has it
    monkeypatch.setenv(assets.ASSETS_ENV, str(kubebuilder))
    found = assets.find()
    assert found is not None
    assert found.kube_apiserver == kubebuilder / "kube-apiserver" and found.sources["kube-apiserver"] == assets.ASSETS_ENV
    assert found.etcd == on_path / "etcd"


def test_a_non_executable_file_is_not_a_binary(no_assets: Path) -> None:
    _fake_binaries(assets.ETCD.cache_dir, ("etcd",))
    assets.ETCD.cached_binary.chmod(0o644)
    assert assets.locate("etcd") is None


def test_missing_binaries_say_how_to_get_them(no_assets: Path) -> None:
    with pytest.raises(InfraError) as raised:
        assets.require()
    message = str(raised.value)
    assert "\n" not in message and "patcher cluster build" in message and assets.ASSETS_ENV in message


def test_building_without_go_or_docker_is_one_clear_line(no_assets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostgo, "find", lambda goroot=None: None)
    monkeypatch.setattr(engine, "available", lambda: (False, "no Docker daemon answers at unix:///nowhere; start Docker"))
    with pytest.raises(InfraError, match=r"^no Go on PATH and no Docker daemon answers at unix:///nowhere, so nothing can build etcd and kube-apiserver; install Go"):
        assets.build()
    with pytest.raises(InfraError, match="no Go on PATH and no Docker daemon") as raised:
        assets.ensure()
    assert "\n" not in str(raised.value)


def test_without_go_the_binaries_build_in_a_container(no_assets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostgo, "find", lambda goroot=None: None)
    monkeypatch.setattr(engine, "available", lambda: (True, ""))
    image = images.GoImage("argo-patcher/go:1.26.8", "sha256:0", GoVersion(1, 26, 8), True, ("argo-patcher/go:1.26.8",), 0, "")
    monkeypatch.setattr(images, "choose", lambda gomod, image_ref="auto", **kw: image)
    go = assets.builder("kube-apiserver")
    assert isinstance(go, assets.ContainerBuilder) and go.version == GoVersion(1, 26, 8)
    assert go.path(Path("/tmp/x"), "out/kube-apiserver") == "/work/out/kube-apiserver"
    assert "in a container of argo-patcher/go:1.26.8" in go.describe()


def test_a_complete_cache_is_not_built_again(no_assets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for recipe in assets.RECIPES:
        _fake_binaries(recipe.cache_dir, (recipe.name,))
    monkeypatch.setattr(hostgo, "find", lambda goroot=None: hostgo.HostGo(Path("/no/go"), Path("/no"), GoVersion(1, 26, 8), "linux", "amd64", {}))
    monkeypatch.setattr(assets, "_build_one", lambda recipe, go: pytest.fail(f"{recipe.name} was built again"))
    assert assets.build().sources == {"etcd": "cache", "kube-apiserver": "cache"}
    assert {entry.note for entry in assets.cached_builds()} == {f"etcd {assets.ETCD_VERSION}", f"kube-apiserver {assets.KUBERNETES_VERSION}"}


def test_staging_modules_are_read_from_kubernetes_go_mod() -> None:
    gomod = """module k8s.io/kubernetes

require (
\tk8s.io/api v0.0.0
\tgithub.com/spf13/cobra v1.9.1
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/some/fork => github.com/other/fork v1.0.0
)

replace k8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
"""
    assert assets.parse_staging_replaces(gomod) == ["k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go"]
    assert assets.staging_version("v1.37.2") == "v0.37.2"


def test_cache_info_lists_the_cluster_builds(no_assets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from patcher import state
    from patcher.runners import engine

    monkeypatch.setattr(engine, "available", lambda: (False, "no daemon"))
    _fake_binaries(assets.ETCD.cache_dir, ("etcd",))
    entries = [e for e in state.info() if e.kind == "cluster"]
    assert [(e.name, e.note) for e in entries] == [(str(assets.ETCD.cache_dir), f"etcd {assets.ETCD_VERSION}")]
    assert entries[0].size == assets.ETCD.cached_binary.stat().st_size


# -- the spec and the result ----------------------------------------------------------------------


def _spec(**changes: object) -> CheckSpec:
    spec = CheckSpec(
        etcd="/bin/etcd", kube_apiserver="/bin/kube-apiserver", crd_dir="/crds",
        controllers=(ControllerSpec("baseline", "/b/workflow-controller"), ControllerSpec("patched", "/p/workflow-controller")),
        run_id="v3.5.5-cluster-1",
    )  # fmt: skip
    return CheckSpec.from_json({**spec.to_json(), **changes})


def test_spec_round_trips_through_json(tmp_path: Path) -> None:
    spec = _spec(cases=["union", "defaults"], cases_timeout_s=12)
    assert spec.cases == ("union", "defaults") and spec.cases_timeout_s == 12.0
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec.to_json()))
    assert CheckSpec.load(path) == spec
    assert _spec().cases == CASE_IDS


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"cases": ["no-such-case"]}, "unknown cases: no-such-case"),
        ({"controllers": [{"role": "other", "binary": "/x"}]}, "one controller per role"),
        ({"controllers": []}, "one controller per role"),
        ({"controllers": [{"role": "patched"}]}, "lacks or mistypes a field"),
    ],
)
def test_a_bad_spec_is_an_input_error(changes: dict[str, object], says: str) -> None:
    with pytest.raises(InputError, match=says):
        _spec(**changes)


def test_an_unreadable_spec_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read the cluster check spec"):
        CheckSpec.load(tmp_path / "spec.json")


def test_result_round_trips_and_reads_as_the_harness_cases() -> None:
    tests = {f"{HARNESS_TEST}/{case}": TestResult(f"{HARNESS_TEST}/{case}", Status.PASS, 1.5) for case in CASE_IDS}
    tests[f"{HARNESS_TEST}/union"] = TestResult(f"{HARNESS_TEST}/union", Status.FAIL, 2.0, "label template-label: want 'base-value', the pod has none")
    result = CheckResult(
        runs={"patched": RunResult(RunStatus.OK, tests, 9.5), "baseline": RunResult(RunStatus.TIMEOUT, message="slow")},
        timings={"control_plane_s": 3.21, "kube-apiserver_peak_mib": 300.0},
    )
    again = CheckResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again.runs["patched"].cases["union"] is Status.FAIL
    assert again.runs["patched"].cases["holder-cluster"] is Status.PASS
    assert again.runs["patched"].tests[f"{HARNESS_TEST}/union"].output.startswith("label template-label")
    assert again.runs["baseline"].status is RunStatus.TIMEOUT and again.runs["baseline"].message == "slow"
    assert again.timings == result.timings


# -- the cases --------------------------------------------------------------------------------------


def test_the_cases_are_the_contract_with_unique_names() -> None:
    built = cases.build(CASE_IDS, namespace="patched-abc", cluster_prefix="patched-abc")
    assert [c.id for c in built] == list(CASE_IDS)
    workflows = [name for c in built for name in c.workflow_names]
    assert len(workflows) == len(set(workflows)) and all(len(name) <= 63 for name in workflows)
    for kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
        names = [h["metadata"]["name"] for c in built for h in c.holders if h["kind"] == kind]
        assert len(names) == len(set(names))
    for case in built:
        for obj in [*case.workflows, *case.workflow_templates]:
            assert obj["metadata"]["namespace"] == "patched-abc"
        for obj in case.cluster_workflow_templates:
            assert "namespace" not in obj["metadata"] and obj["metadata"]["name"].startswith("patched-abc-")
    other = cases.build(CASE_IDS, namespace="baseline-abc", cluster_prefix="baseline-abc")
    clusterwide = {h["metadata"]["name"] for c in [*built, *other] for h in c.cluster_workflow_templates}
    assert len(clusterwide) == sum(len(c.cluster_workflow_templates) for c in [*built, *other])


def test_the_cluster_renames_each_case_for_its_run() -> None:
    by_id = {c.id: c for c in cases.build(CASE_IDS, namespace="ns", cluster_prefix="p")}
    all_three = by_id["all-three"]
    holder = all_three.cluster_workflow_templates[0]
    assert holder["spec"]["podMetadata"] == {"labels": {"team": "holder", "from-holder": "h"}, "annotations": {"note": "holder", "holder-note": "h"}}
    assert holder["spec"]["templates"][0]["metadata"]["labels"] == {"team": "template", "from-template": "t"}
    step = all_three.workflows[0]["spec"]["templates"][0]["steps"][0][0]
    assert step["templateRef"] == {"name": holder["metadata"]["name"], "template": "main", "clusterScope": True}
    innermost = by_id["nested-innermost"]
    assert innermost.pods[0].labels == {"tier": "b", "only-a": contract_cases.ABSENT}
    assert innermost.cluster_workflow_templates[0]["spec"]["templates"][1]["steps"][0][0]["templateRef"] == {"name": "nested-innermost-b", "template": "main"}
    assert by_id["defaults"].workflow_defaults == {"spec": {"podMetadata": {"labels": {"team": "default", "cost": "shared"}, "annotations": {"note": "default", "contact": "ops"}}}}
    assert by_id["workflow-template-ref"].workflows[0]["spec"]["workflowTemplateRef"] == {"name": "workflow-template-ref-wft"}
    assert by_id["workflow-template-ref"].workflow_templates[0]["spec"]["entrypoint"] == "main"
    shared = by_id["no-mutation"].cluster_workflow_templates[0]
    assert shared["metadata"]["labels"] == {"owner": "platform"} and shared["metadata"]["annotations"] == {"purpose": "shared"}
    assert by_id["missing-template"].workflows[0]["spec"]["templates"][0]["steps"][0][0]["templateRef"]["template"] == "absent"


def _pod(labels: dict[str, str], annotations: dict[str, str]) -> dict[str, object]:
    return {"metadata": {"name": "p", "labels": labels, "annotations": annotations}}


def test_judge_pod_says_what_was_expected_and_what_the_pod_had() -> None:
    expected = contract_cases.PodExpectation("wf", {"tier": "b", "only-a": contract_cases.ABSENT}, {"note": "b"})
    assert cases.judge_pod(_pod({"tier": "b"}, {"note": "b"}), expected) == []
    problems = cases.judge_pod(_pod({"tier": "a", "only-a": "a"}, {}), expected)
    assert problems == [
        "label tier: want 'b', the pod has 'a'",
        "label only-a must be absent, the pod has 'a'",
        "annotation note: want 'b', the pod has none",
    ]


def test_judge_controller_only() -> None:
    own = {cases.WORKFLOW_LABEL: "nothing-set", "workflows.argoproj.io/completed": "false"}
    notes = {cases.NODE_ID_ANNOTATION: "nothing-set-1", cases.DEFAULT_CONTAINER_ANNOTATION: "main"}
    assert cases.judge_controller_only(_pod(own, notes), "nothing-set") == []
    problems = cases.judge_controller_only(_pod({**own, "tier": "base"}, {"note": "x"}), "nothing-set")
    assert problems == [f"annotation {cases.NODE_ID_ANNOTATION} is missing", "label tier='base' is not the controller's", "annotation note='x' is not the controller's"]


def test_judge_missing_template() -> None:
    failed = {"status": {"phase": "Error", "message": "", "nodes": {"n": {"message": "template absent not found"}}}}
    assert cases.judge_missing_template(failed) == []
    panicked = {"status": {"phase": "Error", "message": "runtime error: invalid memory address or nil pointer dereference"}}
    problems = cases.judge_missing_template(panicked)
    assert any("not found" in p for p in problems) and any("panic" in p for p in problems)
    assert cases.judge_missing_template({"status": {"phase": "Running"}})[0] == "workflow phase: want Failed or Error, it is 'Running'"


def test_judge_unchanged() -> None:
    created = cases.build(["no-mutation"], namespace="ns", cluster_prefix="p")[0].cluster_workflow_templates[0]
    held = json.loads(json.dumps(created))
    held["metadata"].update(uid="1", resourceVersion="2", creationTimestamp="now")
    assert cases.judge_unchanged(created, held) == []
    held["spec"]["templates"][0]["metadata"]["labels"]["team"] = "one"
    held["metadata"]["labels"]["extra"] = "x"
    problems = cases.judge_unchanged(created, held)
    assert len(problems) == 2 and "spec" in problems[0] and "labels" in problems[1]


# -- building the controller ------------------------------------------------------------------------


def test_ldflags_name_the_module_root_package_from_go_mod(tmp_path: Path) -> None:
    tree = gitrepo.make_repo(tmp_path / "argo", ["v4.0.2"])
    (tree / "go.mod").write_text("module github.com/argoproj/argo-workflows/v4\n\ngo 1.24\n")
    subprocess.run(["git", "-C", str(tree), "add", "go.mod"], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "go.mod"], check=True, capture_output=True)
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    flags = controller.tree_ldflags(tree, "v4.0.2")
    module = "github.com/argoproj/argo-workflows/v4"
    assert f"-X {module}.version=v4.0.2" in flags and f"-X {module}.gitTag=v4.0.2" in flags
    assert f"-X {module}.gitCommit={commit}" in flags and f"-X {module}.gitTreeState=clean" in flags
    assert "-X github.com/argoproj/argo-workflows/v4.buildDate=20" in flags and flags.endswith("-extldflags -static")
    (tree / "go.mod").write_text("module github.com/argoproj/argo-workflows/v4\n\ngo 1.25\n")
    assert f"-X {module}.gitTreeState=dirty" in controller.tree_ldflags(tree, "v4.0.2")


def test_ldflags_outside_git(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module github.com/argoproj/argo-workflows/v3\n")
    flags = controller.tree_ldflags(tmp_path, "v3.5.5")
    assert "v3.gitCommit=unknown" in flags and f"v3.buildDate={controller.UNKNOWN_DATE}" in flags and "gitTreeState=dirty" in flags


# -- isolation ----------------------------------------------------------------------------------------


def test_the_container_sees_the_spec_at_its_mount_points() -> None:
    inside, mounts = isolation._container_spec(_spec())
    assert inside.etcd == "/cluster/bin/etcd" and inside.crd_dir == "/cluster/crds"
    assert [c.binary for c in inside.controllers] == ["/cluster/bin/baseline/workflow-controller", "/cluster/bin/patched/workflow-controller"]
    assert {m["Target"]: m["Source"] for m in mounts}["/cluster/bin/patched/workflow-controller"] == "/p/workflow-controller"
    assert all(m["ReadOnly"] for m in mounts)


def test_what_the_check_printed_becomes_results() -> None:
    spec = _spec()
    printed = CheckResult(runs={"baseline": RunResult(RunStatus.OK), "patched": RunResult(RunStatus.OK)}, timings={"control_plane_s": 2.0})
    got = isolation._outcome(spec, "noise\n" + json.dumps(printed.to_json()) + "\n", "", 0, False, 60)
    assert got.timings == {"control_plane_s": 2.0} and set(got.runs) == {"baseline", "patched"}
    crashed = isolation._outcome(spec, "", "Traceback\nboom: it broke\n", 1, False, 60)
    assert {r.status for r in crashed.runs.values()} == {RunStatus.INFRA_ERROR} and "boom: it broke" in crashed.message
    late = isolation._outcome(spec, "", "", -15, True, 60)
    assert {r.status for r in late.runs.values()} == {RunStatus.TIMEOUT} and "timed out after 60s" in late.message


def test_an_unknown_mode_is_an_input_error() -> None:
    with pytest.raises(InputError, match="cluster mode 'kind'"):
        isolation.choose_mode("kind")


@pytest.mark.skipif(not can_unshare(), reason="no private network namespace can be made here")
def test_the_private_network_has_only_its_own_loopback(tmp_path: Path) -> None:
    outside = socket.socket()
    outside.bind(("127.0.0.1", 0))
    outside.listen()
    port = outside.getsockname()[1]
    script = (
        "import socket\nfrom patcher.cluster.check import bring_loopback_up\nbring_loopback_up()\n"
        "inside = socket.socket(); inside.bind(('127.0.0.1', 0)); inside.listen()\n"
        "socket.create_connection(inside.getsockname(), timeout=2).close()\n"
        f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\nexcept OSError:\n    print('isolated')\n"
    )
    try:
        proc = subprocess.run([*isolation.netns_command(), sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        outside.close()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "isolated"


# -- a control plane whose binaries fail ------------------------------------------------------------


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_an_etcd_that_dies_is_named_with_its_last_log_lines(tmp_path: Path) -> None:
    etcd = _script(tmp_path / "etcd", 'echo "flag provided but not defined: -unsafe-no-fsync" >&2; exit 2')
    apiserver = _script(tmp_path / "kube-apiserver", "exit 0")
    with pytest.raises(InfraError) as raised:
        with ControlPlane(Assets(etcd, apiserver), tmp_path / "work", "t"):
            pytest.fail("the control plane came up")
    message = str(raised.value)
    assert message.startswith("etcd answering on http://127.0.0.1:") and "etcd exited with code 2" in message
    assert "flag provided but not defined" in message


def test_an_api_server_that_never_gets_ready_times_out_and_etcd_is_stopped(tmp_path: Path) -> None:
    port_file = tmp_path / "etcd-port"
    # An etcd stand-in that answers /health; its URL comes from the --listen-client-urls flag.
    etcd = _script(
        tmp_path / "etcd",
        f'for a in "$@"; do case "$a" in --listen-client-urls=*) url="${{a#*=}}";; esac; done\n'
        f'echo "${{url##*:}}" > {port_file}\n'
        f'exec {sys.executable} -c "import http.server, sys\n'
        f"class H(http.server.BaseHTTPRequestHandler):\n"
        f"    def do_GET(self):\n"
        f"        self.send_response(200); self.end_headers(); self.wfile.write(b'{{\\\"health\\\":\\\"true\\\"}}')\n"
        f"    def log_message(self, *a): pass\n"
        f"http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\" \"${{url##*:}}\"",
    )
    apiserver = _script(tmp_path / "kube-apiserver", 'echo "waiting for etcd forever"; sleep 300')
    plane = ControlPlane(Assets(etcd, apiserver), tmp_path / "work", "t", apiserver_timeout_s=2)
    with pytest.raises(InfraError) as raised:
        with plane:
            pytest.fail("the control plane came up")
    message = str(raised.value)
    assert "kube-apiserver ready at https://127.0.0.1:" in message and "did not happen in time" in message
    assert "waiting for etcd forever" in message
    assert plane.children == []
    assert list(childprocs.runs_dir().glob("cluster-*.json")) == []  # every child was stopped, its record gone


def test_free_ports_are_distinct() -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3


# -- prove: the glue the pipeline calls ---------------------------------------------------------------


class _FakeRunner:
    """Builds by writing a file, or fails the way it is told to."""

    kind = "fake"

    def __init__(self, fail: dict[str, BuildFailed] | None = None) -> None:
        self.fail = fail or {}
        self.built: list[tuple[Path, str]] = []
        self.gcflags: list[str] = []

    def build_binary(self, tree: Path, package: str, output_dir: Path, *, ldflags: str, gcflags: str = "", timeout_s: float, run_id: str, target: object = None) -> Path:
        self.built.append((tree, ldflags))
        self.gcflags.append(gcflags)
        if tree.name in self.fail:
            raise self.fail[tree.name]
        output_dir.mkdir(parents=True, exist_ok=True)
        binary = output_dir / "workflow-controller"
        binary.write_text("binary")
        return binary


@pytest.fixture
def release_trees(tmp_path: Path) -> tuple[Path, Path]:
    trees = []
    for name in ("baseline", "patched"):
        tree = tmp_path / name
        (tree / "manifests/base/crds/minimal").mkdir(parents=True)
        (tree / "go.mod").write_text("module github.com/argoproj/argo-workflows/v3\n")
        trees.append(tree)
    return trees[0], trees[1]


@pytest.fixture
def fake_check(monkeypatch: pytest.MonkeyPatch) -> list[CheckSpec]:
    import patcher.cluster as cluster

    specs: list[CheckSpec] = []

    def run(spec: CheckSpec, *, mode: str, timeout_s: float, run_id: str) -> CheckResult:
        specs.append(spec)
        runs = {c.role: RunResult(RunStatus.OK, {f"{HARNESS_TEST}/union": TestResult(f"{HARNESS_TEST}/union", Status.PASS)}) for c in spec.controllers}
        return CheckResult(runs, timings={"control_plane_s": 1.0})

    monkeypatch.setattr(cluster.isolation, "run", run)
    monkeypatch.setattr(cluster.isolation, "choose_mode", lambda mode: "local")
    monkeypatch.setattr(cluster.assets, "ensure", lambda: Assets(Path("/bin/etcd"), Path("/bin/kube-apiserver")))
    return specs


def test_prove_builds_both_controllers_and_checks_them_on_one_control_plane(release_trees: tuple[Path, Path], fake_check: list[CheckSpec]) -> None:
    from patcher.cluster import prove_release

    runner = _FakeRunner()
    both = prove_release(*release_trees, runner=runner, release_tag="v3.5.5")  # type: ignore[arg-type]
    baseline, patched = both.baseline, both.patched
    assert baseline is not None and baseline.cases["union"] is Status.PASS and patched.status is RunStatus.OK
    (spec,) = fake_check
    assert [c.role for c in spec.controllers] == ["baseline", "patched"]
    assert spec.crd_dir == str(release_trees[1] / "manifests/base/crds/minimal")
    assert all("-X github.com/argoproj/argo-workflows/v3.version=v3.5.5" in flags for _tree, flags in runner.built)
    assert runner.gcflags == ["all=-dwarf=false"] * 2  # compiled as the tests were: their packages are reused

    proof = prove_release(None, release_trees[1], runner=_FakeRunner(), release_tag="v3.5.5")  # type: ignore[arg-type]
    assert proof.baseline is None and [c.role for c in fake_check[-1].controllers] == ["patched"]
    assert proof.mode == "local" and {"patched_build_s", "control_plane_s", "check_s", "total_s"} <= set(proof.timings)


def test_prove_reports_a_controller_that_does_not_build(release_trees: tuple[Path, Path], fake_check: list[CheckSpec]) -> None:
    from patcher.cluster import prove_release

    runner = _FakeRunner({"patched": BuildFailed("building ./cmd/workflow-controller failed: workflowpod.go:12: undefined: x", RunStatus.BUILD_ERROR)})
    proof = prove_release(*release_trees, runner=runner, release_tag="v3.5.5")  # type: ignore[arg-type]
    baseline, patched = proof.baseline, proof.patched
    assert patched.status is RunStatus.BUILD_ERROR and "undefined: x" in patched.message
    assert baseline is not None and baseline.status is RunStatus.OK
    assert [c.role for c in fake_check[0].controllers] == ["baseline"]


def test_prove_without_the_release_crds_is_an_infra_error(release_trees: tuple[Path, Path], fake_check: list[CheckSpec]) -> None:
    from patcher.cluster import prove_release

    (release_trees[1] / "manifests/base/crds/minimal").rmdir()
    patched = prove_release(*release_trees, runner=_FakeRunner(), release_tag="v3.3.0").patched  # type: ignore[arg-type]
    assert patched.status is RunStatus.INFRA_ERROR and "manifests/base/crds/minimal" in patched.message
    assert fake_check == []


def test_cluster_build_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from patcher.cluster.cli import cluster

    calls: list[tuple[bool, bool]] = []

    def build(*, rebuild: bool = False, only_missing: bool = False, node: bool = False) -> Assets:
        calls.append((rebuild, node))
        return Assets(Path("/c/etcd"), Path("/c/kube-apiserver"), {"etcd": "cache", "kube-apiserver": "cache"})

    monkeypatch.setattr(assets, "build", build)
    monkeypatch.setattr(assets, "find_node", lambda: assets.NodeAssets(Path("/c/kube-controller-manager"), Path("/c/kube-scheduler"), Path("/c/kubelet"), {"kubelet": "PATH"}))
    result = CliRunner().invoke(cluster, ["build", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert calls == [(True, False)] and "etcd: /c/etcd (cache)" in result.output and "kubelet" not in result.output
    result = CliRunner().invoke(cluster, ["build", "--node"])
    assert result.exit_code == 0, result.output
    assert calls[-1] == (False, True) and "kubelet: /c/kubelet (PATH)" in result.output
    assert assets.KUBERNETES_VERSION in CliRunner().invoke(cluster, ["build", "--help"]).output


def test_the_check_image_is_that_of_the_code_this_process_runs() -> None:
    from patcher import selfcode
    from patcher.cluster import image

    assert image.fingerprint() == selfcode.fingerprint_of(selfcode.snapshot().files, selfcode.libraries())
    assert image.tag() == f"{image.REPOSITORY}:{image.fingerprint()}"


# -- the suite's judgement of each case over the polls ------------------------------------------------


class _FakeClient:
    def __init__(self, held: dict[str, dict[str, object]] | None = None) -> None:
        self.created: list[dict[str, object]] = []
        self.phases: list[tuple[str, str]] = []
        self.held = held or {}

    def create(self, obj: dict[str, object]) -> dict[str, object]:
        self.created.append(obj)
        return obj

    def set_pod_phase(self, name: str, namespace: str, phase: str) -> dict[str, object]:
        self.phases.append((name, phase))
        return {}

    def read(self, kind: str, name: str, namespace: str | None = None) -> dict[str, object]:
        return self.held[name]


def _case_run(case_id: str, client: _FakeClient) -> object:
    from patcher.cluster import suite

    (case,) = cases.build([case_id], namespace="ns", cluster_prefix="p")
    return suite.CaseRun(case, suite.Controller(None, "ns"), client)  # type: ignore[arg-type]


def _snapshot(pods: dict[str, list[dict[str, object]]], workflows: dict[str, dict[str, object]] | None = None) -> object:
    from patcher.cluster import suite

    return suite.Snapshot(pods, workflows or {})


def test_a_pod_case_waits_for_its_pod_then_judges_it() -> None:
    run = _case_run("holder-cluster", _FakeClient())
    assert run.step(_snapshot({})) is None  # type: ignore[attr-defined]
    right = run.step(_snapshot({"holder-cluster": [_pod({"tier": "base"}, {"note": "base"})]}))  # type: ignore[attr-defined]
    assert right.status is Status.PASS
    wrong = run.step(_snapshot({"holder-cluster": [_pod({}, {"note": "base"})]}))  # type: ignore[attr-defined]
    assert wrong.status is Status.FAIL
    assert wrong.output.splitlines() == ["pod of holder-cluster: label tier: want 'base', the pod has none", "the pod has labels {} and annotations {'note': 'base'}"]
    two = run.step(_snapshot({"holder-cluster": [_pod({"tier": "base"}, {"note": "base"})] * 2}))  # type: ignore[attr-defined]
    assert two.output == "workflow holder-cluster has 2 pods, want 1"
    failed = {"holder-cluster": {"status": {"phase": "Error", "message": "boom"}}}
    assert run.step(_snapshot({}, failed)).output == "workflow holder-cluster ended Error without a pod: boom"  # type: ignore[attr-defined]


def test_missing_template_then_needs_another_workflows_pod() -> None:
    client = _FakeClient()
    run = _case_run("missing-template", client)
    assert run.step(_snapshot({}, {"missing-template": {"status": {"phase": "Running"}}})) is None  # type: ignore[attr-defined]
    failed = {"missing-template": {"status": {"phase": "Error", "message": "template absent not found"}}}
    assert run.step(_snapshot({}, failed)) is None  # type: ignore[attr-defined]
    assert [o["metadata"]["name"] for o in client.created] == ["missing-template-after"]  # type: ignore[index]
    assert run.step(_snapshot({}, failed)) is None  # type: ignore[attr-defined]
    assert run.step(_snapshot({"missing-template-after": [_pod({}, {})]}, failed)).status is Status.PASS  # type: ignore[attr-defined]
    panicked = _case_run("missing-template", _FakeClient())
    verdict = panicked.step(_snapshot({}, {"missing-template": {"status": {"phase": "Error", "message": "invalid memory address or nil pointer dereference"}}}))  # type: ignore[attr-defined]
    assert verdict.status is Status.FAIL and "panic" in verdict.output


def test_no_mutation_plays_the_kubelet_then_reads_the_holder_back() -> None:
    (case,) = cases.build(["no-mutation"], namespace="ns", cluster_prefix="p")
    shared = case.cluster_workflow_templates[0]
    client = _FakeClient({shared["metadata"]["name"]: json.loads(json.dumps(shared))})
    run = _case_run("no-mutation", client)
    pods = {
        "no-mutation-one": [{"metadata": {"name": "one-pod", "labels": {"team": "one"}, "annotations": {"owner": "one"}}}],
        "no-mutation-two": [{"metadata": {"name": "two-pod", "labels": {"team": "two"}, "annotations": {"owner": "two"}}}],
    }
    assert run.step(_snapshot(pods)) is None  # type: ignore[attr-defined]
    assert client.phases == [("one-pod", "Running"), ("two-pod", "Running")]
    running = {name: {"status": {"nodes": {"n": {"type": "Pod", "phase": "Running"}}}} for name in pods}
    assert run.step(_snapshot(pods, running)).status is Status.PASS  # type: ignore[attr-defined]
    client.held[shared["metadata"]["name"]]["spec"]["podMetadata"]["labels"]["tier"] = "changed"  # type: ignore[index]
    verdict = run.step(_snapshot(pods, running))  # type: ignore[attr-defined]
    assert verdict.status is Status.FAIL and "the spec of ClusterWorkflowTemplate p-no-mutation-shared changed" in verdict.output


def test_the_node_binaries_are_pinned_like_the_api_server_and_found_the_same_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(assets.ASSETS_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for recipe in assets.NODE_RECIPES:
        assert recipe.version == assets.KUBERNETES_VERSION and recipe.replace_staging
        assert recipe.package == f"k8s.io/kubernetes/cmd/{recipe.name}" and recipe.ldflags == assets.KUBE_APISERVER.ldflags
    assert assets.find_node() is None
    assert assets.missing(assets.NODE_RECIPES) == ["kube-controller-manager", "kube-scheduler", "kubelet"]
    _fake_binaries(assets.KUBELET.cache_dir, ("kubelet",))
    _fake_binaries(assets.KUBE_SCHEDULER.cache_dir, ("kube-scheduler",))
    kubebuilder = tmp_path / "kubebuilder"
    _fake_binaries(kubebuilder, ("kube-controller-manager",))
    monkeypatch.setenv(assets.ASSETS_ENV, str(kubebuilder))
    found = assets.find_node()
    assert found is not None and found.kubelet == assets.KUBELET.cached_binary
    assert found.sources == {"kube-controller-manager": assets.ASSETS_ENV, "kube-scheduler": "cache", "kubelet": "cache"}
    assert {entry.note for entry in assets.cached_builds()} >= {f"kubelet {assets.KUBERNETES_VERSION}", f"kube-scheduler {assets.KUBERNETES_VERSION}"}
