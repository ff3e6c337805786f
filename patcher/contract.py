"""The precedence contract's vocabulary (../shared/PRECEDENCE.md): its cases and its Go test."""

from __future__ import annotations

HARNESS_TEST = "TestPodMetadataPrecedence"
HARNESS_FILE = "zz_argo_patcher_precedence_test.go"

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


def case_of(test_name: str) -> str | None:
    """The case id a ``go test`` name stands for, or None when it is not a harness case."""
    parent, _, case = test_name.partition("/")
    return case if parent == HARNESS_TEST and case in CASE_IDS else None
