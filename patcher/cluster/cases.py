"""The contract's cases (../shared/PRECEDENCE.md) as real Kubernetes objects, and what each
created Pod must carry.

They are the Go harness's cases (go-fixtures/zz_argo_patcher_precedence_test.go.j2): the same
ids, holders, keys and values. What changes is naming, since every case of a controller's run
lives in one namespace at once and cluster-scoped objects are shared by the whole API server:
namespaced templates are prefixed with the case id, cluster-scoped ones also with the run's
prefix, and the Workflows keep the case ids as names (or ``<id>-<n>``).

A case is data plus a judgement: ``judge_pod`` compares a Pod with what is expected of it and
says what differs; the check (``suite``) decides when a case has something to judge.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any

from patcher.cluster.kubeapi import ARGO_GROUP
from patcher.harness.contract import CASE_IDS

Object = dict[str, Any]
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_ID_ANNOTATION = "workflows.argoproj.io/node-id"
CONTROLLER_KEY_PREFIX = "workflows.argoproj.io/"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
IMAGE = "argoproj/argosay:v2"
ABSENT = ""  # an expected value meaning: the key must not be there


class Kind(str, enum.Enum):
    POD = "pod"  # each named workflow's one pod carries the expected keys
    CONTROLLER_ONLY = "controller-only"  # the pod carries only the controller's own keys
    MISSING_TEMPLATE = "missing-template"  # the workflow fails with "not found"; the controller goes on
    NO_MUTATION = "no-mutation"  # pods marked running and reconciled; the shared holder unchanged


@dataclasses.dataclass(frozen=True)
class PodExpectation:
    workflow: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclasses.dataclass
class Case:
    id: str
    kind: Kind
    workflows: list[Object]
    workflow_templates: list[Object] = dataclasses.field(default_factory=list)
    cluster_workflow_templates: list[Object] = dataclasses.field(default_factory=list)
    pods: list[PodExpectation] = dataclasses.field(default_factory=list)
    workflow_defaults: Object | None = None  # controller workflowDefaults: needs a controller of its own

    @property
    def workflow_names(self) -> list[str]:
        return [wf["metadata"]["name"] for wf in self.workflows]

    @property
    def holders(self) -> list[Object]:
        return [*self.cluster_workflow_templates, *self.workflow_templates]


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


# -- object builders (the harness's argoPatcherCWFT, argoPatcherWFT, argoPatcherWorkflow) -------


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


def holder(kind: str, name: str, namespace: str | None, pod_metadata: Object | None, template_metadata: Object | None = None) -> Object:
    """A WorkflowTemplate or ClusterWorkflowTemplate with ``podMetadata`` and a container template
    ``main`` carrying ``template_metadata``."""
    metadata: Object = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    spec: Object = {}
    if pod_metadata:
        spec["podMetadata"] = pod_metadata
    spec["templates"] = [container_template("main", template_metadata)]
    return {"apiVersion": ARGO_GROUP, "kind": kind, "metadata": metadata, "spec": spec}


def workflow(name: str, namespace: str, pod_metadata: Object | None, step: Object) -> Object:
    """A Workflow whose entrypoint is one step, plus a local container template ``local``."""
    spec: Object = {"entrypoint": "main"}
    if pod_metadata:
        spec["podMetadata"] = pod_metadata
    spec["templates"] = [{"name": "main", "steps": [[{"name": "step", **step}]]}, container_template("local")]
    return {"apiVersion": ARGO_GROUP, "kind": "Workflow", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def cluster_ref(name: str, template: str = "main") -> Object:
    return {"templateRef": {"name": name, "template": template, "clusterScope": True}}


BASE = meta({"tier": "base"}, {"note": "base"})
HOLDER_TEAM = meta({"team": "holder"}, {"note": "holder"})
WORKFLOW_TEAM = meta({"team": "workflow"}, {"note": "workflow"})
TEMPLATE_TEAM = meta({"team": "template"}, {"note": "template"})
CWFT, WFT = "ClusterWorkflowTemplate", "WorkflowTemplate"


def _pod(workflow_name: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> PodExpectation:
    return PodExpectation(workflow_name, dict(labels), dict(annotations))


# -- the cases -----------------------------------------------------------------------------------


def _holder_cluster(n: Names) -> Case:
    h = n.cluster("holder")
    return Case(n.case, Kind.POD, [workflow(n.case, n.namespace, None, cluster_ref(h))],
                cluster_workflow_templates=[holder(CWFT, h, None, BASE)],
                pods=[_pod(n.case, {"tier": "base"}, {"note": "base"})])  # fmt: skip


def _holder_namespaced(n: Names) -> Case:
    h = n.namespaced("holder")
    return Case(n.case, Kind.POD, [workflow(n.case, n.namespace, None, {"templateRef": {"name": h, "template": "main"}})],
                workflow_templates=[holder(WFT, h, n.namespace, BASE)],
                pods=[_pod(n.case, {"tier": "base"}, {"note": "base"})])  # fmt: skip


def _union(n: Names) -> Case:
    h = n.cluster("holder")
    return Case(n.case, Kind.POD, [workflow(n.case, n.namespace, meta({"workflow-label": "override-value"}), cluster_ref(h))],
                cluster_workflow_templates=[holder(CWFT, h, None, meta({"template-label": "base-value"}, {"template-annotation": "base-annotation"}))],
                pods=[_pod(n.case, {"template-label": "base-value", "workflow-label": "override-value"},
                           {"template-annotation": "base-annotation"})])  # fmt: skip


def _workflow_over_holder(n: Names) -> Case:
    h = n.cluster("holder")
    return Case(n.case, Kind.POD, [workflow(n.case, n.namespace, WORKFLOW_TEAM, cluster_ref(h))],
                cluster_workflow_templates=[holder(CWFT, h, None, HOLDER_TEAM)],
                pods=[_pod(n.case, {"team": "workflow"}, {"note": "workflow"})])  # fmt: skip


def _template_over_holder(n: Names) -> Case:
    h = n.cluster("holder")
    return Case(n.case, Kind.POD, [workflow(n.case, n.namespace, None, cluster_ref(h))],
                cluster_workflow_templates=[holder(CWFT, h, None, HOLDER_TEAM, TEMPLATE_TEAM)],
                pods=[_pod(n.case, {"team": "template"}, {"note": "template"})])  # fmt: skip


def _template_over_workflow(n: Names) -> Case:
    wf = workflow(n.case, n.namespace, WORKFLOW_TEAM, {"template": "own"})
    wf["spec"]["templates"].append(container_template("own", TEMPLATE_TEAM))
    return Case(n.case, Kind.POD, [wf], pods=[_pod(n.case, {"team": "template"}, {"note": "template"})])


def _all_three(n: Names) -> Case:
    h = n.cluster("holder")
    return Case(
        n.case, Kind.POD,
        [workflow(n.case, n.namespace, meta({"team": "workflow", "from-workflow": "w"}, {"note": "workflow", "workflow-note": "w"}), cluster_ref(h))],
        cluster_workflow_templates=[holder(CWFT, h, None, meta({"team": "holder", "from-holder": "h"}, {"note": "holder", "holder-note": "h"}),
                                           meta({"team": "template", "from-template": "t"}, {"note": "template", "template-note": "t"}))],
        pods=[_pod(n.case, {"team": "template", "from-holder": "h", "from-workflow": "w", "from-template": "t"},
                   {"note": "template", "holder-note": "h", "workflow-note": "w", "template-note": "t"})],
    )  # fmt: skip


def _workflow_template_ref(n: Names) -> Case:
    wft_name = n.namespaced("wft")
    wft = holder(WFT, wft_name, n.namespace, meta({"team": "wft", "tier": "base"}, {"note": "wft", "origin": "wft"}))
    wft["spec"] = {"entrypoint": "main", **wft["spec"]}
    wf = {
        "apiVersion": ARGO_GROUP, "kind": "Workflow", "metadata": {"name": n.case, "namespace": n.namespace},
        "spec": {"workflowTemplateRef": {"name": wft_name}, "podMetadata": WORKFLOW_TEAM},
    }  # fmt: skip
    return Case(n.case, Kind.POD, [wf], workflow_templates=[wft],
                pods=[_pod(n.case, {"team": "workflow", "tier": "base"}, {"note": "workflow", "origin": "wft"})])  # fmt: skip


def _nested_by_name(n: Names) -> Case:
    a_name = n.cluster("a")
    a = holder(CWFT, a_name, None, meta({"tier": "a"}, {"note": "a"}))
    a["spec"]["templates"].append({"name": "entry", "steps": [[{"name": "inner", "template": "main"}]]})
    return Case(n.case, Kind.POD, [workflow(n.case, n.namespace, None, cluster_ref(a_name, "entry"))],
                cluster_workflow_templates=[a], pods=[_pod(n.case, {"tier": "a"}, {"note": "a"})])  # fmt: skip


def _nested_innermost(n: Names) -> Case:
    a_name, b_name = n.cluster("a"), n.namespaced("b")
    a = holder(CWFT, a_name, None, meta({"tier": "a", "only-a": "a"}, {"note": "a", "only-a-note": "a"}))
    a["spec"]["templates"].append({"name": "entry", "steps": [[{"name": "inner", "templateRef": {"name": b_name, "template": "main"}}]]})
    return Case(n.case, Kind.POD, [workflow(n.case, n.namespace, None, cluster_ref(a_name, "entry"))],
                cluster_workflow_templates=[a], workflow_templates=[holder(WFT, b_name, n.namespace, meta({"tier": "b"}, {"note": "b"}))],
                pods=[_pod(n.case, {"tier": "b", "only-a": ABSENT}, {"note": "b", "only-a-note": ABSENT})])  # fmt: skip


def _dag_task(n: Names) -> Case:
    h = n.cluster("holder")
    wf = {
        "apiVersion": ARGO_GROUP, "kind": "Workflow", "metadata": {"name": n.case, "namespace": n.namespace},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": [{"name": "task", **cluster_ref(h)}]}}]},
    }  # fmt: skip
    return Case(n.case, Kind.POD, [wf], cluster_workflow_templates=[holder(CWFT, h, None, BASE)],
                pods=[_pod(n.case, {"tier": "base"}, {"note": "base"})])  # fmt: skip


def _defaults(n: Names) -> Case:
    defaults = {"spec": {"podMetadata": meta({"team": "default", "cost": "shared"}, {"note": "default", "contact": "ops"})}}
    return Case(n.case, Kind.POD, [workflow(n.case, n.namespace, WORKFLOW_TEAM, {"template": "local"})], workflow_defaults=defaults,
                pods=[_pod(n.case, {"team": "workflow", "cost": "shared"}, {"note": "workflow", "contact": "ops"})])  # fmt: skip


def _nothing_set(n: Names) -> Case:
    return Case(n.case, Kind.CONTROLLER_ONLY, [workflow(n.case, n.namespace, None, {"template": "local"})])


def _missing_template(n: Names) -> Case:
    h = n.cluster("holder")
    return Case(n.case, Kind.MISSING_TEMPLATE, [workflow(n.case, n.namespace, None, cluster_ref(h, "absent"))],
                cluster_workflow_templates=[holder(CWFT, h, None, BASE)])  # fmt: skip


def _no_mutation(n: Names) -> Case:
    shared_name = n.cluster("shared")
    shared = holder(CWFT, shared_name, None, meta({"tier": "shared"}, {"note": "shared"}), meta({"own": "main"}, {"own-note": "main"}))
    shared["metadata"].update(labels={"owner": "platform"}, annotations={"purpose": "shared"})
    one, two = f"{n.case}-one", f"{n.case}-two"
    return Case(
        n.case, Kind.NO_MUTATION,
        [workflow(one, n.namespace, meta({"team": "one"}, {"owner": "one"}), cluster_ref(shared_name)),
         workflow(two, n.namespace, meta({"team": "two"}, {"owner": "two"}), cluster_ref(shared_name))],
        cluster_workflow_templates=[shared],
        pods=[_pod(one, {"team": "one"}, {"owner": "one"}), _pod(two, {"team": "two"}, {"owner": "two"})],
    )  # fmt: skip


BUILDERS: dict[str, Callable[[Names], Case]] = {
    "holder-cluster": _holder_cluster,
    "holder-namespaced": _holder_namespaced,
    "union": _union,
    "workflow-over-holder": _workflow_over_holder,
    "template-over-holder": _template_over_holder,
    "template-over-workflow": _template_over_workflow,
    "all-three": _all_three,
    "workflow-template-ref": _workflow_template_ref,
    "nested-by-name": _nested_by_name,
    "nested-innermost": _nested_innermost,
    "dag-task": _dag_task,
    "defaults": _defaults,
    "nothing-set": _nothing_set,
    "missing-template": _missing_template,
    "no-mutation": _no_mutation,
}
assert tuple(BUILDERS) == CASE_IDS, "the cluster cases must be the contract's, in its order"


def build(case_ids: list[str] | tuple[str, ...], *, namespace: str, cluster_prefix: str) -> list[Case]:
    """The objects of the given cases for one controller's run in ``namespace``."""
    return [BUILDERS[case_id](Names(case_id, namespace, cluster_prefix)) for case_id in case_ids]


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
