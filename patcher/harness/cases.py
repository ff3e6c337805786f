"""The contract's cases (../shared/PRECEDENCE.md), defined once, as data.

Each case is its objects (Workflows, WorkflowTemplates, ClusterWorkflowTemplates, the controller's
``workflowDefaults``) and what the pods created for it must carry. Both proofs are derived from
here: the Go harness embeds ``as_json()`` and interprets it (go-fixtures/), and the cluster proof
creates the same objects in a real API server, renamed for its namespace (``patcher.cluster.cases``).

Names are the case's own: the Workflows are named by the case id (or ``<id>-<n>``), the holders
``holder``, ``a``, ``b``, ``shared``, ``wft``, in the namespace ``default``. A holder is reached by
``templateRef`` (``clusterScope`` for a ClusterWorkflowTemplate) or ``workflowTemplateRef``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Mapping
from typing import Any

from patcher.harness.contract import CASE_IDS

Object = dict[str, Any]
ARGO_API_VERSION = "argoproj.io/v1alpha1"
NAMESPACE = "default"
IMAGE = "argoproj/argosay:v2"
ABSENT = ""  # an expected value meaning: the key must not be there
CWFT, WFT, WORKFLOW = "ClusterWorkflowTemplate", "WorkflowTemplate", "Workflow"


class Kind(str, enum.Enum):
    """What a case checks, besides the objects it creates."""

    POD = "pod"  # each expected workflow's one pod carries the expected keys
    CONTROLLER_ONLY = "controller-only"  # the pod carries only the controller's own keys
    NOT_FOUND = "not-found"  # the workflow fails with "not found", no panic, no pod
    HOLDERS_UNCHANGED = "holders-unchanged"  # pods reconciled once running; the holders held unchanged


@dataclasses.dataclass(frozen=True)
class PodExpectation:
    workflow: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    kind: Kind
    workflows: tuple[Object, ...]
    workflow_templates: tuple[Object, ...] = ()
    cluster_workflow_templates: tuple[Object, ...] = ()
    pods: tuple[PodExpectation, ...] = ()
    workflow_defaults: Object | None = None  # the controller's workflowDefaults (a controller of its own)

    @property
    def workflow_names(self) -> list[str]:
        return [wf["metadata"]["name"] for wf in self.workflows]

    @property
    def holders(self) -> list[Object]:
        return [*self.cluster_workflow_templates, *self.workflow_templates]

    def to_json(self) -> Object:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "workflows": list(self.workflows),
            "workflowTemplates": list(self.workflow_templates),
            "clusterWorkflowTemplates": list(self.cluster_workflow_templates),
            "workflowDefaults": self.workflow_defaults,
            "pods": [{"workflow": p.workflow, "labels": dict(p.labels), "annotations": dict(p.annotations)} for p in self.pods],
        }

    @classmethod
    def from_json(cls, data: Object) -> Case:
        return cls(
            data["id"], Kind(data["kind"]), tuple(data["workflows"]), tuple(data["workflowTemplates"]),
            tuple(data["clusterWorkflowTemplates"]),
            tuple(PodExpectation(p["workflow"], p["labels"], p["annotations"]) for p in data["pods"]),
            data["workflowDefaults"],
        )  # fmt: skip


# -- the objects' builders -----------------------------------------------------------------------


def meta(labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None) -> Object:
    found: Object = {}
    if labels:
        found["labels"] = dict(labels)
    if annotations:
        found["annotations"] = dict(annotations)
    return found


def container_template(name: str, metadata: Object | None = None) -> Object:
    template: Object = {"name": name}
    if metadata:
        template["metadata"] = metadata
    template["container"] = {"image": IMAGE, "command": ["/argosay"]}
    return template


def holder(kind: str, name: str, pod_metadata: Object | None, template_metadata: Object | None = None) -> Object:
    """A WorkflowTemplate or ClusterWorkflowTemplate with ``podMetadata`` and a container template
    ``main`` carrying ``template_metadata``."""
    metadata: Object = {"name": name}
    if kind == WFT:
        metadata["namespace"] = NAMESPACE
    spec: Object = {}
    if pod_metadata:
        spec["podMetadata"] = pod_metadata
    spec["templates"] = [container_template("main", template_metadata)]
    return {"apiVersion": ARGO_API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def workflow(name: str, pod_metadata: Object | None, step: Object) -> Object:
    """A Workflow whose entrypoint is one step, plus a container template ``local`` of its own."""
    spec: Object = {"entrypoint": "main"}
    if pod_metadata:
        spec["podMetadata"] = pod_metadata
    spec["templates"] = [{"name": "main", "steps": [[{"name": "step", **step}]]}, container_template("local")]
    return {"apiVersion": ARGO_API_VERSION, "kind": WORKFLOW, "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def cluster_ref(name: str, template: str = "main") -> Object:
    return {"templateRef": {"name": name, "template": template, "clusterScope": True}}


def namespaced_ref(name: str, template: str = "main") -> Object:
    return {"templateRef": {"name": name, "template": template}}


def _pod(workflow_name: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> PodExpectation:
    return PodExpectation(workflow_name, dict(labels), dict(annotations))


BASE = meta({"tier": "base"}, {"note": "base"})
HOLDER_TEAM = meta({"team": "holder"}, {"note": "holder"})
WORKFLOW_TEAM = meta({"team": "workflow"}, {"note": "workflow"})
TEMPLATE_TEAM = meta({"team": "template"}, {"note": "template"})


# -- the cases -----------------------------------------------------------------------------------


def _holder_cluster(case: str) -> Case:
    return Case(case, Kind.POD, (workflow(case, None, cluster_ref("holder")),),
                cluster_workflow_templates=(holder(CWFT, "holder", BASE),), pods=(_pod(case, {"tier": "base"}, {"note": "base"}),))  # fmt: skip


def _holder_namespaced(case: str) -> Case:
    return Case(case, Kind.POD, (workflow(case, None, namespaced_ref("holder")),),
                workflow_templates=(holder(WFT, "holder", BASE),), pods=(_pod(case, {"tier": "base"}, {"note": "base"}),))  # fmt: skip


def _union(case: str) -> Case:
    holder_metadata = meta({"template-label": "base-value"}, {"template-annotation": "base-annotation"})
    return Case(case, Kind.POD, (workflow(case, meta({"workflow-label": "override-value"}), cluster_ref("holder")),),
                cluster_workflow_templates=(holder(CWFT, "holder", holder_metadata),),
                pods=(_pod(case, {"template-label": "base-value", "workflow-label": "override-value"},
                           {"template-annotation": "base-annotation"}),))  # fmt: skip


def _workflow_over_holder(case: str) -> Case:
    return Case(case, Kind.POD, (workflow(case, WORKFLOW_TEAM, cluster_ref("holder")),),
                cluster_workflow_templates=(holder(CWFT, "holder", HOLDER_TEAM),), pods=(_pod(case, {"team": "workflow"}, {"note": "workflow"}),))  # fmt: skip


def _template_over_holder(case: str) -> Case:
    return Case(case, Kind.POD, (workflow(case, None, cluster_ref("holder")),),
                cluster_workflow_templates=(holder(CWFT, "holder", HOLDER_TEAM, TEMPLATE_TEAM),),
                pods=(_pod(case, {"team": "template"}, {"note": "template"}),))  # fmt: skip


def _template_over_workflow(case: str) -> Case:
    wf = workflow(case, WORKFLOW_TEAM, {"template": "own"})
    wf["spec"]["templates"].append(container_template("own", TEMPLATE_TEAM))
    return Case(case, Kind.POD, (wf,), pods=(_pod(case, {"team": "template"}, {"note": "template"}),))


def _all_three(case: str) -> Case:
    return Case(
        case, Kind.POD,
        (workflow(case, meta({"team": "workflow", "from-workflow": "w"}, {"note": "workflow", "workflow-note": "w"}), cluster_ref("holder")),),
        cluster_workflow_templates=(holder(CWFT, "holder", meta({"team": "holder", "from-holder": "h"}, {"note": "holder", "holder-note": "h"}),
                                           meta({"team": "template", "from-template": "t"}, {"note": "template", "template-note": "t"})),),
        pods=(_pod(case, {"team": "template", "from-holder": "h", "from-workflow": "w", "from-template": "t"},
                   {"note": "template", "holder-note": "h", "workflow-note": "w", "template-note": "t"}),),
    )  # fmt: skip


def _workflow_template_ref(case: str) -> Case:
    wft = holder(WFT, "wft", meta({"team": "wft", "tier": "base"}, {"note": "wft", "origin": "wft"}))
    wft["spec"] = {"entrypoint": "main", **wft["spec"]}
    wf = {
        "apiVersion": ARGO_API_VERSION, "kind": WORKFLOW, "metadata": {"name": case, "namespace": NAMESPACE},
        "spec": {"workflowTemplateRef": {"name": "wft"}, "podMetadata": WORKFLOW_TEAM},
    }  # fmt: skip
    return Case(case, Kind.POD, (wf,), workflow_templates=(wft,),
                pods=(_pod(case, {"team": "workflow", "tier": "base"}, {"note": "workflow", "origin": "wft"}),))  # fmt: skip


def _nested_by_name(case: str) -> Case:
    a = holder(CWFT, "a", meta({"tier": "a"}, {"note": "a"}))
    a["spec"]["templates"].append({"name": "entry", "steps": [[{"name": "inner", "template": "main"}]]})
    return Case(case, Kind.POD, (workflow(case, None, cluster_ref("a", "entry")),),
                cluster_workflow_templates=(a,), pods=(_pod(case, {"tier": "a"}, {"note": "a"}),))  # fmt: skip


def _nested_innermost(case: str) -> Case:
    a = holder(CWFT, "a", meta({"tier": "a", "only-a": "a"}, {"note": "a", "only-a-note": "a"}))
    a["spec"]["templates"].append({"name": "entry", "steps": [[{"name": "inner", **namespaced_ref("b")}]]})
    return Case(case, Kind.POD, (workflow(case, None, cluster_ref("a", "entry")),),
                cluster_workflow_templates=(a,), workflow_templates=(holder(WFT, "b", meta({"tier": "b"}, {"note": "b"})),),
                pods=(_pod(case, {"tier": "b", "only-a": ABSENT}, {"note": "b", "only-a-note": ABSENT}),))  # fmt: skip


def _dag_task(case: str) -> Case:
    wf = {
        "apiVersion": ARGO_API_VERSION, "kind": WORKFLOW, "metadata": {"name": case, "namespace": NAMESPACE},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": [{"name": "task", **cluster_ref("holder")}]}}]},
    }  # fmt: skip
    return Case(case, Kind.POD, (wf,), cluster_workflow_templates=(holder(CWFT, "holder", BASE),),
                pods=(_pod(case, {"tier": "base"}, {"note": "base"}),))  # fmt: skip


def _defaults(case: str) -> Case:
    defaults = {"spec": {"podMetadata": meta({"team": "default", "cost": "shared"}, {"note": "default", "contact": "ops"})}}
    return Case(case, Kind.POD, (workflow(case, WORKFLOW_TEAM, {"template": "local"}),), workflow_defaults=defaults,
                pods=(_pod(case, {"team": "workflow", "cost": "shared"}, {"note": "workflow", "contact": "ops"}),))  # fmt: skip


def _nothing_set(case: str) -> Case:
    return Case(case, Kind.CONTROLLER_ONLY, (workflow(case, None, {"template": "local"}),))


def _missing_template(case: str) -> Case:
    return Case(case, Kind.NOT_FOUND, (workflow(case, None, cluster_ref("holder", "absent")),),
                cluster_workflow_templates=(holder(CWFT, "holder", BASE),))  # fmt: skip


def _no_mutation(case: str) -> Case:
    shared = holder(CWFT, "shared", meta({"tier": "shared"}, {"note": "shared"}), meta({"own": "main"}, {"own-note": "main"}))
    shared["metadata"].update(labels={"owner": "platform"}, annotations={"purpose": "shared"})
    one, two = f"{case}-one", f"{case}-two"
    return Case(
        case, Kind.HOLDERS_UNCHANGED,
        (workflow(one, meta({"team": "one"}, {"owner": "one"}), cluster_ref("shared")),
         workflow(two, meta({"team": "two"}, {"owner": "two"}), cluster_ref("shared"))),
        cluster_workflow_templates=(shared,),
        pods=(_pod(one, {"team": "one"}, {"owner": "one"}), _pod(two, {"team": "two"}, {"owner": "two"})),
    )  # fmt: skip


CASES: tuple[Case, ...] = tuple(
    build(case_id)
    for case_id, build in (
        ("holder-cluster", _holder_cluster),
        ("holder-namespaced", _holder_namespaced),
        ("union", _union),
        ("workflow-over-holder", _workflow_over_holder),
        ("template-over-holder", _template_over_holder),
        ("template-over-workflow", _template_over_workflow),
        ("all-three", _all_three),
        ("workflow-template-ref", _workflow_template_ref),
        ("nested-by-name", _nested_by_name),
        ("nested-innermost", _nested_innermost),
        ("dag-task", _dag_task),
        ("defaults", _defaults),
        ("nothing-set", _nothing_set),
        ("missing-template", _missing_template),
        ("no-mutation", _no_mutation),
    )
)
assert tuple(case.id for case in CASES) == CASE_IDS, "the cases must be the contract's, in its order"
BY_ID = {case.id: case for case in CASES}


def as_json(cases: tuple[Case, ...] = CASES) -> str:
    """The cases as the Go harness embeds them: one JSON document, one case a line."""
    return "[\n" + ",\n".join(json.dumps(case.to_json(), sort_keys=False) for case in cases) + "\n]"


def embedded_in(harness: str) -> tuple[Case, ...]:
    """The cases a rendered Go harness holds (its ``argoPatcherContract``)."""
    match = re.search(r"^const argoPatcherContract = `(.*?)`$", harness, re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError("no argoPatcherContract in the harness")
    return tuple(Case.from_json(data) for data in json.loads(match.group(1)))
