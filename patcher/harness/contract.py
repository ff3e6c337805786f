"""The precedence contract's vocabulary (../shared/PRECEDENCE.md): its cases and its Go test."""

from __future__ import annotations

HARNESS_TEST = "TestPodMetadataPrecedence"
HARNESS_FILE = "zz_argo_patcher_precedence_test.go"
# The upstream-style regression test (harness.upstream): the tests it adds to the release's own test files.
UPSTREAM_TESTS = (
    "TestTemplateRefPodMetadataPrecedence",
    "TestTemplateRefPodMetadataLeavesTheHolderUnmodified",
    "TestGetTemplateFromRefToAMissingTemplateOfAHolderWithPodMetadata",
)

# The ``go test -run`` pattern of each suite a proof runs (``--suite``; None: every test).
SUITE_PATTERNS: dict[str, str | None] = {
    "precedence": f"^{HARNESS_TEST}$",
    "regression": rf"^({HARNESS_TEST}|Test.*(PodMetadata|Metadata|TemplateRef).*)$",
    "full": None,
}

CASE_IDS: tuple[str, ...] = (
    "holder-cluster",
    "holder-namespaced",
    "union",
    "workflow-over-holder",
    "template-over-holder",
    "template-over-workflow",
    "all-three",
    "workflow-template-ref",
    "nested-by-name",
    "nested-innermost",
    "dag-task",
    "defaults",
    "nothing-set",
    "missing-template",
    "no-mutation",
)


# What each case checks, in a few words (PRECEDENCE.md has the set-ups).
CASE_DESCRIPTIONS: dict[str, str] = {
    "holder-cluster": "a ClusterWorkflowTemplate's podMetadata reaches pods of templates reached by templateRef",
    "holder-namespaced": "the same through a namespaced WorkflowTemplate",
    "union": "the holder's and the workflow's labels and annotations are merged on the pod",
    "workflow-over-holder": "the workflow's podMetadata wins over the holder's on a shared key",
    "template-over-holder": "the template's own metadata wins over the holder's",
    "template-over-workflow": "the template's own metadata wins over the workflow's",
    "all-three": "holder < workflow < template on a shared key, every distinct key kept",
    "workflow-template-ref": "workflowTemplateRef: the Workflow's podMetadata over the referenced template's",
    "nested-by-name": "a template called by name inside a ClusterWorkflowTemplate gets its podMetadata",
    "nested-innermost": "with nested templateRefs only the innermost holder counts",
    "dag-task": "a DAG task with templateRef gets the holder's podMetadata",
    "defaults": "controller workflowDefaults count as workflow-level podMetadata",
    "nothing-set": "no podMetadata anywhere: the pod is created with the controller's own labels only",
    "missing-template": "a templateRef to a missing template fails with 'not found', no panic",
    "no-mutation": "the (Cluster)WorkflowTemplates the controller holds are never modified",
}


def case_of(test_name: str) -> str | None:
    """The case id a ``go test`` name stands for, or None when it is not a harness case."""
    parent, _, case = test_name.partition("/")
    return case if parent == HARNESS_TEST and case in CASE_IDS else None
