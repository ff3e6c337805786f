"""One controller's cases on the node: the release's own Argo installed, the workflows run as real pods.

For a controller (the baseline's or the patched one) each group of cases gets a namespace and an
Argo of its own, installed from the release's manifests as an operator would install them
(``manifests/base/workflow-controller``: the ConfigMap, the Deployment, its ServiceAccount and
PriorityClass; ``manifests/cluster-install/workflow-controller-rbac``, from v4.1
``cluster-install-no-crds``: its roles), with the
controller's image swapped for the one built here, ``--executor-image`` the argoexec built from
the same tree, and ``--namespaced --managed-namespace`` so that the baseline's and the patched
controller never see each other's workflows. ``defaults`` gets its own group, since
``workflowDefaults`` in the ConfigMap would reach every other case. The workflow pods run as the
namespace's ``default`` ServiceAccount, bound to ``cluster-admin`` in the namespace (the executor
reports its results through the API).

A case is judged once its workflows have ended: each of its pods must have run to completion (a
pod that never ran is no evidence), carry what the contract expects, and its workflow must have
``Succeeded``. Beyond the contract (``NODE_CASES``, reported as ``NodeProof/<id>``):

* ``retry``: a holder's template that fails its first attempt and is retried: both pods carry the
  holder's metadata, and the workflow succeeds on the retry;
* ``exit-handler``: an ``onExit`` handler whose step reaches a holder through ``templateRef``: its
  pod carries the holder's metadata;
* ``succeeded``: every workflow of the contract's pod cases ``Succeeded``.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from patcher.cluster import cases as case_defs
from patcher.cluster.controlplane import ControlPlane
from patcher.cluster.kubeapi import ApiError, KubeClient
from patcher.harness import cases as contract
from patcher.harness.cases import Case, Kind
from patcher.harness.contract import HARNESS_TEST
from patcher.runners.testresults import RunResult, RunStatus, Status, TestResult

DEFAULT_TIMEOUT_S = 300.0
POLL_S = 0.5
NODE_TEST = "NodeProof"
CONTROLLER_MANIFESTS = Path("base", "workflow-controller")
# Where the controller's cluster roles are: v4.1 moved them to cluster-install-no-crds.
RBAC_MANIFESTS = (Path("cluster-install", "workflow-controller-rbac"), Path("cluster-install-no-crds", "workflow-controller-rbac"))
FINAL = ("Succeeded", "Failed", "Error")
NODE_NAME_ANNOTATION = "workflows.argoproj.io/node-name"
Object = dict[str, Any]


# -- the cases beyond the contract ---------------------------------------------------------------


def _retry_case() -> Case:
    held = contract.holder(contract.CWFT, "holder", contract.HOLDER_TEAM)
    main = held["spec"]["templates"][0]
    main["container"]["args"] = ["fail-first", "{{retries}}"]
    main["retryStrategy"] = {"limit": 1, "retryPolicy": "Always"}
    wf = contract.workflow("retry", None, contract.cluster_ref("holder"))
    expected = contract.PodExpectation("retry", {"team": "holder"}, {"note": "holder"})
    return Case("retry", Kind.POD, (wf,), cluster_workflow_templates=(held,), pods=(expected,))


def _exit_handler_case() -> Case:
    wf = contract.workflow("exit-handler", None, {"template": "local"})
    wf["spec"]["onExit"] = "exit"
    wf["spec"]["templates"].append({"name": "exit", "steps": [[{"name": "notify", **contract.cluster_ref("holder")}]]})
    expected = contract.PodExpectation("exit-handler", {"team": "holder"}, {"note": "holder"})
    return Case("exit-handler", Kind.POD, (wf,), cluster_workflow_templates=(contract.holder(contract.CWFT, "holder", contract.HOLDER_TEAM),),
                pods=(expected,))  # fmt: skip


NODE_CASES: dict[str, Case] = {"retry": _retry_case(), "exit-handler": _exit_handler_case()}
NODE_CHECKS = ("retry", "exit-handler", "succeeded")


@dataclasses.dataclass
class Group:
    namespace: str
    cases: list[Case]
    node_cases: list[Case]
    config: dict[str, str]


def run(
    plane: ControlPlane, role: str, manifests: Path, controller_image: str, executor_image: str, case_ids: Sequence[str], *,
    timeout_s: float = DEFAULT_TIMEOUT_S, suffix: str = "",
) -> RunResult:  # fmt: skip
    started = time.monotonic()
    deadline = started + timeout_s
    client = plane.client
    main_ns = f"{role}{suffix}"
    wanted = [c for c in case_ids if c != "defaults"]
    groups = [Group(main_ns, case_defs.build(wanted, namespace=main_ns, cluster_prefix=main_ns),
                    [case_defs.for_run(case, case_defs.Names(case.id, main_ns, main_ns)) for case in NODE_CASES.values()], {})]  # fmt: skip
    if "defaults" in case_ids:
        defaults_ns = f"{role}-defaults{suffix}"
        (defaults_case,) = case_defs.build(["defaults"], namespace=defaults_ns, cluster_prefix=defaults_ns)
        groups.append(Group(defaults_ns, [defaults_case], [], {"workflowDefaults": yaml.safe_dump(defaults_case.workflow_defaults, sort_keys=False)}))
    tests: dict[str, TestResult] = {}
    try:
        for group in groups:
            prepare_namespace(client, group.namespace, deadline)
            install_argo(client, manifests, group.namespace, controller_image, executor_image, group.config)
            for case in [*group.cases, *group.node_cases]:
                for obj in case.holders:
                    client.create(obj)
        created = time.monotonic()
        for group in groups:
            for case in [*group.cases, *group.node_cases]:
                for wf in case.workflows:
                    client.create(wf)
        tests = _poll(client, groups, deadline, created)
    except ApiError as exc:
        return RunResult(RunStatus.INFRA_ERROR, tests, time.monotonic() - started, f"the API server failed the {role} cases on the node: {exc}")
    finally:
        for group in groups:
            _uninstall(client, group.namespace)
    timed_out = any(t.status is Status.ERROR and "timed out" in t.output for t in tests.values())
    status = RunStatus.TIMEOUT if timed_out else RunStatus.OK
    return RunResult(status, tests, time.monotonic() - started, f"cases still undecided after {timeout_s:g}s" if timed_out else "")


def wait_for_service_account(client: KubeClient, namespace: str, deadline: float) -> None:
    """kube-controller-manager makes each namespace's ``default`` ServiceAccount; pods need it."""
    while True:
        try:
            client.read("ServiceAccount", "default", namespace)
            return
        except ApiError as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def prepare_namespace(client: KubeClient, namespace: str, deadline: float) -> None:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    wait_for_service_account(client, namespace, deadline)
    client.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "argo-patcher-executor", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
    })  # fmt: skip


def release_manifests(manifests: Path) -> list[Object]:
    """The release's controller install: its base and its cluster roles, as objects."""
    objects = []
    rbac = next((manifests / d for d in RBAC_MANIFESTS if (manifests / d).is_dir()), manifests / RBAC_MANIFESTS[0])
    for directory in (manifests / CONTROLLER_MANIFESTS, rbac):
        for path in sorted(directory.glob("*.yaml")):
            if path.name == "kustomization.yaml":
                continue
            objects += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict) and d.get("kind")]
    return objects


def install_objects(objects: Sequence[Object], namespace: str, controller_image: str, executor_image: str, config: dict[str, str]) -> list[Object]:
    """The release's objects made for ``namespace``: namespaced ones moved there, the cluster
    bindings renamed for it, the controller's image and arguments set, the ConfigMap's data."""
    out = []
    for original in objects:
        obj = copy.deepcopy(original)
        kind, metadata = obj["kind"], obj.setdefault("metadata", {})
        if kind in ("ClusterRoleBinding",):
            metadata["name"] = f"{metadata['name']}-{namespace}"
        elif kind not in ("ClusterRole", "PriorityClass", "CustomResourceDefinition"):
            metadata["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
        if kind == "ConfigMap" and metadata.get("name") == "workflow-controller-configmap":
            obj["data"] = dict(config)
        if kind == "Deployment" and metadata.get("name") == "workflow-controller":
            container = obj["spec"]["template"]["spec"]["containers"][0]
            container["image"] = controller_image
            container["imagePullPolicy"] = "Never"
            container["args"] = [*(container.get("args") or []), "--executor-image", executor_image, "--namespaced", "--managed-namespace", namespace]
            container.setdefault("env", []).append({"name": "DEFAULT_REQUEUE_TIME", "value": "1s"})
        out.append(obj)
    return out


def install_argo(client: KubeClient, manifests: Path, namespace: str, controller_image: str, executor_image: str, config: dict[str, str]) -> None:
    for obj in install_objects(release_manifests(manifests), namespace, controller_image, executor_image, config):
        try:
            client.create(obj)
        except ApiError as exc:
            if exc.status != 409 or obj["kind"] not in ("ClusterRole", "PriorityClass"):  # shared by the roles' installs
                raise


def _uninstall(client: KubeClient, namespace: str) -> None:
    try:
        client.request("DELETE", f"/apis/apps/v1/namespaces/{namespace}/deployments/workflow-controller", body={"propagationPolicy": "Background"})
    except ApiError:
        pass


# -- judging ---------------------------------------------------------------------------------------


def _snapshot(client: KubeClient, namespaces: list[str]) -> tuple[dict[tuple[str, str], list[Object]], dict[tuple[str, str], Object]]:
    pods: dict[tuple[str, str], list[Object]] = {}
    workflows: dict[tuple[str, str], Object] = {}
    for namespace in namespaces:
        for pod in client.items("Pod", namespace):
            owner = ((pod.get("metadata") or {}).get("labels") or {}).get(case_defs.WORKFLOW_LABEL)
            if owner:
                pods.setdefault((namespace, owner), []).append(pod)
        for wf in client.items("Workflow", namespace):
            workflows[(namespace, wf["metadata"]["name"])] = wf
    return pods, workflows


def _phase(obj: Object | None) -> str:
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def _poll(client: KubeClient, groups: list[Group], deadline: float, created: float) -> dict[str, TestResult]:
    namespaces = [g.namespace for g in groups]
    pending: dict[str, tuple[str, Case, bool]] = {}  # test name -> (namespace, case, is a node case)
    for group in groups:
        pending.update({f"{HARNESS_TEST}/{c.id}": (group.namespace, c, False) for c in group.cases})
        pending.update({f"{NODE_TEST}/{c.id}": (group.namespace, c, True) for c in group.node_cases})
    tests: dict[str, TestResult] = {}
    sentinels: dict[str, str] = {}
    succeeded_problems: list[str] = []
    while pending:
        pods, workflows = _snapshot(client, namespaces)
        for name, (namespace, case, _node) in list(pending.items()):
            verdict = _judge(client, case, namespace, pods, workflows, sentinels)
            if verdict is None:
                continue
            status, output = verdict
            tests[name] = TestResult(name, status, time.monotonic() - created, output)
            del pending[name]
            if case.kind in (Kind.POD, Kind.CONTROLLER_ONLY, Kind.HOLDERS_UNCHANGED) and not _node:
                succeeded_problems += [f"{wf}: {_phase(workflows.get((namespace, wf)))}" for wf in case.workflow_names
                                       if _phase(workflows.get((namespace, wf))) != "Succeeded"]  # fmt: skip
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    for name, (namespace, case, _node) in pending.items():
        tests[name] = TestResult(name, Status.ERROR, time.monotonic() - created,
                                 f"timed out waiting for the workflows {', '.join(case.workflow_names)} in {namespace} to end")  # fmt: skip
    succeeded = f"{NODE_TEST}/succeeded"
    if pending:
        tests[succeeded] = TestResult(succeeded, Status.ERROR, 0.0, "not every workflow ended")
    else:
        tests[succeeded] = TestResult(succeeded, Status.FAIL if succeeded_problems else Status.PASS, 0.0,
                                      "workflows that did not succeed: " + ", ".join(succeeded_problems) if succeeded_problems else "")  # fmt: skip
    return tests


def _judge(client: KubeClient, case: Case, namespace: str, pods: dict[tuple[str, str], list[Object]], workflows: dict[tuple[str, str], Object],
           sentinels: dict[str, str]) -> tuple[Status, str] | None:  # fmt: skip
    """A case's verdict once its workflows have ended; None before."""
    phases = {name: _phase(workflows.get((namespace, name))) for name in case.workflow_names}
    if any(p not in FINAL for p in phases.values()):
        return None
    if case.kind is Kind.NOT_FOUND:
        name = case.workflow_names[0]
        problems = case_defs.judge_missing_template(workflows[(namespace, name)])
        if pods.get((namespace, name)):
            problems.append(f"workflow {name} refers to a template that does not exist, yet a pod was created")
        if problems:
            return Status.FAIL, "\n".join(problems)
        sentinel = f"{case.id}-after"
        if case.id not in sentinels:  # the controller must go on: another workflow, created now, runs
            client.create(case_defs.workflow(sentinel, namespace, None, {"template": "local"}))
            sentinels[case.id] = sentinel
            return None
        phase = _phase(workflows.get((namespace, sentinel)))
        if phase not in FINAL:
            return None
        return (Status.PASS, "") if phase == "Succeeded" else (Status.FAIL, f"{sentinel}, created after {name} failed, ended {phase}")
    problems = [f"workflow {name} ended {phase}: {case_defs.workflow_messages(workflows[(namespace, name)]) or 'no message'}"
                for name, phase in phases.items() if phase != "Succeeded"]  # fmt: skip
    for name in case.workflow_names:
        problems += [f"pod {p['metadata']['name']} of {name} did not run to completion (phase {_phase(p) or 'unset'})"
                     for p in pods.get((namespace, name), []) if _phase(p) not in ("Succeeded", "Failed")]  # fmt: skip
    if case.kind is Kind.CONTROLLER_ONLY:
        name = case.workflow_names[0]
        ran = pods.get((namespace, name), [])
        problems += [f"workflow {name} has {len(ran)} pods, want 1"] if len(ran) != 1 else case_defs.judge_controller_only(ran[0], name)
    for expected in case.pods:
        problems += _judge_expected(case, expected, pods.get((namespace, expected.workflow), []))
    if case.kind is Kind.HOLDERS_UNCHANGED:
        for created_obj in case.cluster_workflow_templates:
            problems += case_defs.judge_unchanged(created_obj, client.read("ClusterWorkflowTemplate", created_obj["metadata"]["name"]))
    return (Status.FAIL, "\n".join(problems)) if problems else (Status.PASS, "")


def _judge_expected(case: Case, expected: contract.PodExpectation, ran: list[Object]) -> list[str]:
    if case.id == "retry":
        chosen, want = ran, 2  # the failed attempt and its retry: both from the holder's template
    elif case.id == "exit-handler":
        chosen = [p for p in ran if "onExit" in ((p.get("metadata") or {}).get("annotations") or {}).get(NODE_NAME_ANNOTATION, "")]
        want = 1
    else:
        chosen, want = ran, 1
    if len(chosen) != want:
        names = sorted(((p.get("metadata") or {}).get("annotations") or {}).get(NODE_NAME_ANNOTATION, "?") for p in ran)
        return [f"workflow {expected.workflow}: {len(chosen)} pods to judge, want {want} (its pods: {', '.join(names) or 'none'})"]
    problems = []
    for pod in chosen:
        found = case_defs.judge_pod(pod, expected)
        if found:
            metadata = pod.get("metadata") or {}
            problems += [f"pod {metadata.get('name')}: {p}" for p in found]
            problems.append(f"the pod has labels {dict(sorted((metadata.get('labels') or {}).items()))} "
                            f"and annotations {dict(sorted((metadata.get('annotations') or {}).items()))}")  # fmt: skip
    return problems
