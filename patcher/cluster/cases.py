"""The contract's cases (``patcher.harness.cases``) as real Kubernetes objects for one
controller's run, and the judgement of what each created Pod carries.

The objects are the harness's, renamed: every case of a controller's run lives in one namespace at
once and cluster-scoped objects are shared by the whole API server, so namespaced templates are
prefixed with the case id, cluster-scoped ones also with the run's prefix, and the Workflows keep
their names (the case id, or ``<id>-<n>``); the references to the holders follow.

A case is data plus a judgement: ``judge_pod`` compares a Pod with what is expected of it and
says what differs; the check (``suite``) decides when a case has something to judge.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from patcher.harness import cases as contract_cases
from patcher.harness.cases import ABSENT, Case, PodExpectation

Object = dict[str, Any]
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_ID_ANNOTATION = "workflows.argoproj.io/node-id"
CONTROLLER_KEY_PREFIX = "workflows.argoproj.io/"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


@dataclasses.dataclass(frozen=True)
class Names:
    """Object names for one case in one controller's run."""

    case: str
    namespace: str
    cluster_prefix: str

    def cluster(self, name: str) -> str:
        return f"{self.cluster_prefix}-{self.case}-{name}"

    def namespaced(self, name: str) -> str:
        return f"{self.case}-{name}"


def build(case_ids: Sequence[str], *, namespace: str, cluster_prefix: str) -> list[Case]:
    """The objects of the given cases for one controller's run in ``namespace``."""
    return [for_run(contract_cases.BY_ID[case_id], Names(case_id, namespace, cluster_prefix)) for case_id in case_ids]


def for_run(case: Case, names: Names) -> Case:
    """``case`` with its objects renamed for one controller's run."""

    def renamed(obj: Object) -> Object:
        obj = copy.deepcopy(obj)
        metadata = obj["metadata"]
        if obj["kind"] == contract_cases.CWFT:
            metadata["name"] = names.cluster(metadata["name"])
        else:
            metadata["namespace"] = names.namespace
            if obj["kind"] == contract_cases.WFT:
                metadata["name"] = names.namespaced(metadata["name"])
        _rename_references(obj["spec"], names)
        return obj

    return dataclasses.replace(
        case,
        workflows=tuple(map(renamed, case.workflows)),
        workflow_templates=tuple(map(renamed, case.workflow_templates)),
        cluster_workflow_templates=tuple(map(renamed, case.cluster_workflow_templates)),
    )


def _rename_references(node: Any, names: Names) -> None:
    if isinstance(node, list):
        for item in node:
            _rename_references(item, names)
    elif isinstance(node, dict):
        ref = node.get("templateRef")
        if isinstance(ref, dict):
            ref["name"] = names.cluster(ref["name"]) if ref.get("clusterScope") else names.namespaced(ref["name"])
        if isinstance(node.get("workflowTemplateRef"), dict):
            node["workflowTemplateRef"]["name"] = names.namespaced(node["workflowTemplateRef"]["name"])
        for key, value in node.items():
            if key not in ("templateRef", "workflowTemplateRef"):
                _rename_references(value, names)


def workflow(name: str, namespace: str, pod_metadata: Object | None, step: Object) -> Object:
    """A Workflow of the harness's shape in ``namespace`` (the check's sentinel workflow)."""
    wf = contract_cases.workflow(name, pod_metadata, step)
    wf["metadata"]["namespace"] = namespace
    return wf


# -- judging ---------------------------------------------------------------------------------------


def judge_pod(pod: Object, expected: PodExpectation) -> list[str]:
    """What differs between the pod's labels and annotations and what is expected of them."""
    metadata = pod.get("metadata") or {}
    problems = _judge_keys("label", metadata.get("labels") or {}, expected.labels)
    problems += _judge_keys("annotation", metadata.get("annotations") or {}, expected.annotations)
    return problems


def _judge_keys(what: str, actual: Mapping[str, str], expected: Mapping[str, str]) -> list[str]:
    problems = []
    for key, want in expected.items():
        if want == ABSENT:
            if key in actual:
                problems.append(f"{what} {key} must be absent, the pod has {actual[key]!r}")
        elif key not in actual:
            problems.append(f"{what} {key}: want {want!r}, the pod has none")
        elif actual[key] != want:
            problems.append(f"{what} {key}: want {want!r}, the pod has {actual[key]!r}")
    return problems


def judge_controller_only(pod: Object, workflow_name: str) -> list[str]:
    """The pod of a workflow that sets no metadata anywhere carries only the controller's keys."""
    metadata = pod.get("metadata") or {}
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    problems = []
    if labels.get(WORKFLOW_LABEL) != workflow_name:
        problems.append(f"label {WORKFLOW_LABEL}: want {workflow_name!r}, the pod has {labels.get(WORKFLOW_LABEL)!r}")
    if not annotations.get(NODE_ID_ANNOTATION):
        problems.append(f"annotation {NODE_ID_ANNOTATION} is missing")
    problems += [f"label {k}={v!r} is not the controller's" for k, v in sorted(labels.items()) if not k.startswith(CONTROLLER_KEY_PREFIX)]
    problems += [
        f"annotation {k}={v!r} is not the controller's"
        for k, v in sorted(annotations.items())
        if not (k.startswith(CONTROLLER_KEY_PREFIX) or k == DEFAULT_CONTAINER_ANNOTATION)
    ]
    return problems


FAILED_PHASES = ("Failed", "Error")
PANIC_MARKERS = ("nil pointer", "invalid memory address")


def workflow_messages(wf: Object) -> str:
    status = wf.get("status") or {}
    messages = [str(status.get("message") or "")]
    messages += [str(node.get("message") or "") for node in (status.get("nodes") or {}).values()]
    return "\n".join(m for m in messages if m)


def judge_missing_template(wf: Object) -> list[str]:
    """The workflow failed, saying what was not found, and not by a panic."""
    phase = (wf.get("status") or {}).get("phase", "")
    messages = workflow_messages(wf)
    problems = []
    if phase not in FAILED_PHASES:
        problems.append(f"workflow phase: want Failed or Error, it is {phase or 'unset'!r}")
    if "not found" not in messages:
        problems.append(f"no message says 'not found'; messages: {messages or 'none'!r}")
    problems += [f"a message shows a panic ({marker}): {messages!r}" for marker in PANIC_MARKERS if marker in messages]
    return problems


def judge_unchanged(created: Object, held: Object) -> list[str]:
    """The holder as the API server has it is what was created (spec, labels, annotations)."""
    problems = []
    if held.get("spec") != created.get("spec"):
        problems.append(f"the spec of ClusterWorkflowTemplate {created['metadata']['name']} changed: created {created.get('spec')}, now {held.get('spec')}")
    for field in ("labels", "annotations"):
        want, have = created["metadata"].get(field) or {}, (held.get("metadata") or {}).get(field) or {}
        if want != have:
            problems.append(f"the {field} of ClusterWorkflowTemplate {created['metadata']['name']} changed: created {want}, now {have}")
    return problems
