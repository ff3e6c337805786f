"""One controller binary against the control plane: every case at once, each judged on its own.

For a controller (the baseline's or the patched one) the suite makes a fresh namespace with its
``default`` ServiceAccount (no controller manager makes it) and an empty
``workflow-controller-configmap``, creates every case's holders, starts the controller
namespaced to it with leader election off, creates the Workflows, and polls the API server
until each case has something to judge or the deadline passes.

``defaults`` needs ``workflowDefaults`` in the controller's ConfigMap, which would reach every
other case's pods too, so it gets a namespace and a controller of its own, started alongside:
that second controller's metrics server is off, since both would listen on :9090 (the :6060
health server of the second only logs that the port is taken).

There is no kubelet: pods stay Pending, which is all most cases need. ``no-mutation`` plays the
kubelet, marking its pods Running through the pods/status subresource so that the controller
reconciles them with their templates, as the Go harness does. ``missing-template`` also checks
that the controller goes on: after the failure it must still create another workflow's pod.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from patcher.cluster import cases as case_defs
from patcher.cluster.controlplane import ControlPlane
from patcher.cluster.kubeapi import ApiError, KubeClient
from patcher.errors import InfraError
from patcher.harness.cases import Case, Kind, PodExpectation
from patcher.harness.contract import HARNESS_TEST
from patcher.runners.childprocs import Process
from patcher.runners.testresults import RunResult, RunStatus, Status, TestResult

CONFIGMAP = "workflow-controller-configmap"
POLL_S = 0.1
WORKFLOW_WORKERS = 32
REQUEUE_TIME = "1s"
RECONCILE_WAIT_S = 10.0  # how long no-mutation waits for the controller to see its pods running
Object = dict[str, Any]


@dataclasses.dataclass
class Verdict:
    status: Status
    output: str = ""


@dataclasses.dataclass
class Snapshot:
    """The pods and workflows of the suite's namespaces at one moment."""

    pods: dict[str, list[Object]]  # workflow name -> its pods
    workflows: dict[str, Object]  # name -> workflow

    def pods_of(self, name: str) -> list[Object]:
        return self.pods.get(name, [])

    def phase(self, name: str) -> str:
        return str(((self.workflows.get(name) or {}).get("status") or {}).get("phase") or "")


@dataclasses.dataclass
class Controller:
    process: Process
    namespace: str


class CaseRun:
    """One case's progress through the polls: ``step`` returns its verdict once it has one."""

    def __init__(self, case: Case, controller: Controller, client: KubeClient) -> None:
        self.case = case
        self.controller = controller
        self.client = client
        self.started = time.monotonic()
        self.took = 0.0  # seconds from its workflows' creation to its verdict
        self.stage = 0
        self.waiting_for = "the pods of " + ", ".join(case.workflow_names)
        self.marked_at = 0.0
        self.sentinel = f"{case.id}-after"

    def step(self, snapshot: Snapshot) -> Verdict | None:
        handlers: dict[Kind, Callable[[Snapshot], Verdict | None]] = {
            Kind.POD: self._pods,
            Kind.CONTROLLER_ONLY: self._pods,
            Kind.NOT_FOUND: self._missing_template,
            Kind.HOLDERS_UNCHANGED: self._no_mutation,
        }
        return handlers[self.case.kind](snapshot)

    def _pods(self, snapshot: Snapshot) -> Verdict | None:
        names = self.case.workflow_names
        for name in names:
            if not snapshot.pods_of(name):
                if snapshot.phase(name) in ("Succeeded", *case_defs.FAILED_PHASES):
                    messages = case_defs.workflow_messages(snapshot.workflows[name])
                    return Verdict(Status.FAIL, f"workflow {name} ended {snapshot.phase(name)} without a pod: {messages or 'no message'}")
                return None
        return self._judge_pods(snapshot)

    def _judge_pods(self, snapshot: Snapshot) -> Verdict:
        problems = []
        if self.case.kind is Kind.CONTROLLER_ONLY:
            name = self.case.workflow_names[0]
            problems += _one_pod(snapshot, name) or case_defs.judge_controller_only(snapshot.pods_of(name)[0], name)
        for expected in self.case.pods:
            problems += _one_pod(snapshot, expected.workflow) or _judged(snapshot.pods_of(expected.workflow)[0], expected)
        return Verdict(Status.FAIL, "\n".join(problems)) if problems else Verdict(Status.PASS)

    def _missing_template(self, snapshot: Snapshot) -> Verdict | None:
        name = self.case.workflow_names[0]
        if self.stage == 0:
            if snapshot.pods_of(name):
                return Verdict(Status.FAIL, f"workflow {name} refers to a template that does not exist, yet a pod was created")
            if snapshot.phase(name) not in case_defs.FAILED_PHASES:
                self.waiting_for = f"workflow {name} to fail"
                return None
            problems = case_defs.judge_missing_template(snapshot.workflows[name])
            if problems:
                return Verdict(Status.FAIL, "\n".join(problems))
            # The controller must go on after the failure: another workflow, created now, gets its pod.
            self.client.create(case_defs.workflow(self.sentinel, self.controller.namespace, None, {"template": "local"}))
            self.stage, self.waiting_for = 1, f"the pod of {self.sentinel}, created after {name} failed"
            return None
        if not snapshot.pods_of(self.sentinel):
            return None
        return Verdict(Status.PASS)

    def _no_mutation(self, snapshot: Snapshot) -> Verdict | None:
        names = self.case.workflow_names
        if self.stage == 0:
            if not all(snapshot.pods_of(name) for name in names):
                return None
            first = self._judge_pods(snapshot)
            if first.status is not Status.PASS:
                return first
            for name in names:
                for pod in snapshot.pods_of(name):
                    self.client.set_pod_phase(pod["metadata"]["name"], self.controller.namespace, "Running")
            self.stage, self.marked_at = 1, time.monotonic()
            self.waiting_for = "the controller to see the pods of " + ", ".join(names) + " running"
            return None
        reconciled = all(_pod_nodes_running(snapshot.workflows.get(name) or {}) for name in names)
        if not reconciled and time.monotonic() - self.marked_at < RECONCILE_WAIT_S:
            return None
        problems = [self._judge_pods(snapshot).output]
        for created in self.case.cluster_workflow_templates:
            held = self.client.read("ClusterWorkflowTemplate", created["metadata"]["name"])
            problems += case_defs.judge_unchanged(created, held)
        problems = [p for p in problems if p]
        unseen = f"the controller did not mark the nodes of the running pods Running within {RECONCILE_WAIT_S:g}s"
        if problems:
            return Verdict(Status.FAIL, "\n".join(problems if reconciled else [*problems, f"({unseen})"]))
        return Verdict(Status.PASS) if reconciled else Verdict(Status.ERROR, unseen)


def _one_pod(snapshot: Snapshot, name: str) -> list[str]:
    count = len(snapshot.pods_of(name))
    return [] if count == 1 else [f"workflow {name} has {count} pods, want 1"]


def _judged(pod: Object, expected: PodExpectation) -> list[str]:
    """What is wrong with the pod, then what it has, for the message; nothing when it is right."""
    problems = [f"pod of {expected.workflow}: {problem}" for problem in case_defs.judge_pod(pod, expected)]
    if problems:
        problems.append(f"the pod has labels {_keys(pod, 'labels')} and annotations {_keys(pod, 'annotations')}")
    return problems


def _keys(pod: Object, field: str) -> dict[str, str]:
    return dict(sorted(((pod.get("metadata") or {}).get(field) or {}).items()))


def _pod_nodes_running(wf: Object) -> bool:
    nodes = ((wf.get("status") or {}).get("nodes") or {}).values()
    pods = [n for n in nodes if n.get("type") == "Pod"]
    return bool(pods) and all(n.get("phase") == "Running" for n in pods)


# -- one controller's suite -------------------------------------------------------------------


def run(plane: ControlPlane, binary: Path, role: str, case_ids: tuple[str, ...], *, suffix: str, timeout_s: float) -> RunResult:
    """Check the controller ``binary`` on ``case_ids``; ``suffix`` makes its names unique in the
    control plane. Returns the cases as ``HARNESS_TEST/<id>`` tests."""
    started = time.monotonic()
    deadline = started + timeout_s
    client = plane.client
    main_ns = f"{role}-{suffix}"
    wanted = [c for c in case_ids if c != "defaults"]
    groups: list[tuple[str, list[Case], dict[str, str]]] = []
    if wanted:
        groups.append((main_ns, case_defs.build(wanted, namespace=main_ns, cluster_prefix=main_ns), {}))
    if "defaults" in case_ids:
        defaults_ns = f"{role}-defaults-{suffix}"
        (defaults_case,) = case_defs.build(["defaults"], namespace=defaults_ns, cluster_prefix=defaults_ns)
        config = {
            "workflowDefaults": yaml.safe_dump(defaults_case.workflow_defaults, sort_keys=False),
            "metricsConfig": "enabled: false\n",
        }
        groups.append((defaults_ns, [defaults_case], config))
    controllers: list[Controller] = []
    runs: list[CaseRun] = []
    try:
        for namespace, group, config in groups:
            _prepare_namespace(client, namespace, config)
            for case in group:
                for obj in case.holders:
                    client.create(obj)
        for namespace, group, _config in groups:
            controller = Controller(_start_controller(plane, binary, f"{role}-controller-{namespace}", namespace), namespace)
            controllers.append(controller)
            runs += [CaseRun(case, controller, client) for case in group]
        for case_run in runs:
            case_run.started = time.monotonic()
            for wf in case_run.case.workflows:
                client.create(wf)
        verdicts = _poll(client, runs, [ns for ns, _, _ in groups], deadline)
        return _result(runs, verdicts, controllers, started, timeout_s)  # before the controllers stop: it asks which exited
    except ApiError as exc:
        return RunResult(RunStatus.INFRA_ERROR, duration_s=time.monotonic() - started, message=f"the API server failed the {role} cases: {exc}")
    except InfraError as exc:  # the controller could not be started at all
        return RunResult(RunStatus.INFRA_ERROR, duration_s=time.monotonic() - started, message=str(exc))
    finally:
        for controller in controllers:
            plane.stop_child(controller.process)


def _prepare_namespace(client: KubeClient, namespace: str, config: dict[str, str]) -> None:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    client.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}})
    configmap: Object = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP, "namespace": namespace}}
    if config:
        configmap["data"] = config
    client.create(configmap)


def _start_controller(plane: ControlPlane, binary: Path, name: str, namespace: str) -> Process:
    kubeconfig = plane.write_kubeconfig(plane.workdir / f"kubeconfig-{namespace}", namespace=namespace)
    args = [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        "--namespaced",
        f"--managed-namespace={namespace}",
        f"--configmap={CONFIGMAP}",
        f"--workflow-workers={WORKFLOW_WORKERS}",
    ]
    # A 1s requeue, as upstream's own Makefile runs its controller for tests: the default 10s
    # would hold no-mutation's reconcile of its running pods for that long.
    env = {"LEADER_ELECTION_DISABLE": "true", "DEFAULT_REQUEUE_TIME": REQUEUE_TIME, "HOME": str(plane.workdir), "PATH": "/usr/bin:/bin"}
    return plane.start_child(name, args, env=env)


def _poll(client: KubeClient, runs: list[CaseRun], namespaces: list[str], deadline: float) -> dict[str, Verdict]:
    verdicts: dict[str, Verdict] = {}
    pending = list(runs)
    while pending:
        snapshot = _snapshot(client, namespaces)
        for case_run in list(pending):
            if not case_run.controller.process.alive():
                continue
            try:
                verdict = case_run.step(snapshot)
            except ApiError as exc:
                verdict = Verdict(Status.ERROR, f"the API server refused what the case needed: {exc}")
            if verdict is not None:
                case_run.took = time.monotonic() - case_run.started
                verdicts[case_run.case.id] = verdict
                pending.remove(case_run)
        pending = [r for r in pending if r.controller.process.alive()]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    return verdicts


def _snapshot(client: KubeClient, namespaces: list[str]) -> Snapshot:
    pods: dict[str, list[Object]] = {}
    workflows: dict[str, Object] = {}
    for namespace in namespaces:
        for pod in client.items("Pod", namespace):
            owner = ((pod.get("metadata") or {}).get("labels") or {}).get(case_defs.WORKFLOW_LABEL)
            if owner:
                pods.setdefault(owner, []).append(pod)
        for wf in client.items("Workflow", namespace):
            workflows[wf["metadata"]["name"]] = wf
    return Snapshot(pods, workflows)


def _result(runs: list[CaseRun], verdicts: dict[str, Verdict], controllers: list[Controller], started: float, timeout_s: float) -> RunResult:
    tests: dict[str, TestResult] = {}
    timed_out = False
    for case_run in runs:
        name = f"{HARNESS_TEST}/{case_run.case.id}"
        verdict = verdicts.get(case_run.case.id)
        if verdict is not None:
            tests[name] = TestResult(name, verdict.status, case_run.took, verdict.output)
            continue
        process = case_run.controller.process
        if not process.alive():
            why = process.why_not(f"no verdict while waiting for {case_run.waiting_for}")
        else:
            timed_out = True
            why = f"timed out after {timeout_s:g}s waiting for {case_run.waiting_for}"
        tests[name] = TestResult(name, Status.ERROR, time.monotonic() - started, why)
    duration = time.monotonic() - started
    dead = [c.process for c in controllers if not c.process.alive()]
    if dead and not verdicts:
        return RunResult(RunStatus.INFRA_ERROR, tests, duration, dead[0].why_not("the workflow-controller did not run"))
    if timed_out:
        return RunResult(RunStatus.TIMEOUT, tests, duration, f"cases still undecided after {timeout_s:g}s")
    return RunResult(RunStatus.OK, tests, duration)
