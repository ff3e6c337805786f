"""The precedence harness rendered for each test-helper shape (tests/goshapes.py)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from patcher.cluster import cases as cluster_cases_module
from patcher.errors import InputError
from patcher.harness import cases as contract_cases
from patcher.harness import fixture
from patcher.harness.contract import CASE_IDS, HARNESS_FILE, HARNESS_TEST
from patcher.patching import shapes
from patcher.patching.gotree import GoTree
from patcher.patching.shapes import HarnessShape
from patcher.runners import gofmt
from tests import goshapes

GOFMT = shutil.which("gofmt")


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("v3.5", HarnessShape("example.com/argo-workflows/v3", False, False, False, False)),
        ("v4", HarnessShape("example.com/argo-workflows/v4", True, True, True, True)),
    ],
)
def test_the_helper_api_is_detected(tmp_path, shape, expected):
    assert shapes.harness_shape(GoTree(goshapes.make_tree(tmp_path, shape))) == expected


@pytest.mark.parametrize("shape", ["v3.5", "v4"])
def test_the_harness_has_one_subtest_per_case_and_uses_the_checkouts_helpers(tmp_path, shape):
    tree = goshapes.make_tree(tmp_path, shape)
    text = fixture.render_for(GoTree(tree), gofmt.check)
    module = shapes.harness_shape(GoTree(tree)).module_path
    assert re.findall(r"^func (Test\w+)", text, re.M) == [HARNESS_TEST]
    assert tuple(case.id for case in contract_cases.embedded_in(text)) == CASE_IDS
    assert "argoPatcherCase(t, c.ID, func(t *testing.T) {" in text  # a subtest per case, named by its id
    assert f'wfv1 "{module}/pkg/apis/workflow/v1alpha1"' in text
    top_level = re.findall(r"^(?:func|type|const|var) \(?(\w+)", text, re.M)
    assert all(name == HARNESS_TEST or name.startswith("argoPatcher") for name in top_level), top_level
    if shape == "v4":
        assert "newController(ctx, objects...)" in text and "listPods(ctx, woc)" in text
        assert "logging.TestContext(context.Background())" in text
    else:
        assert "newController(objects...)" in text and "listPods(woc)" in text
        assert "logging" not in text


@pytest.mark.skipif(GOFMT is None, reason="no gofmt on PATH")
@pytest.mark.parametrize("shape", ["v3.5", "v4"])
def test_the_rendered_harness_is_gofmt_clean(tmp_path, shape):
    tree = goshapes.make_tree(tmp_path, shape)
    path = fixture.write(tree, fixture.render_for(GoTree(tree), gofmt.check))
    assert subprocess.run([GOFMT, "-l", str(path)], capture_output=True, text=True).stdout == ""


def test_write_and_remove(tmp_path):
    tree = goshapes.make_tree(tmp_path, "v3.7")
    path = fixture.write(tree, fixture.render_for(GoTree(tree), gofmt.check))
    assert path == tree / "workflow/controller" / HARNESS_FILE and path.is_file()
    fixture.write(tree, fixture.render_for(GoTree(tree), gofmt.check))
    fixture.remove(tree)
    assert not path.exists()
    fixture.remove(tree)


def test_unknown_test_helpers_are_refused(tmp_path):
    tree = goshapes.make_tree(tmp_path, "v3.5")
    helpers = tree / shapes.CONTROLLER_TEST
    helpers.write_text(helpers.read_text().replace("func listPods(", "func listAllPods("))
    with pytest.raises(InputError, match="func listPods in workflow/controller/controller_test.go not found"):
        fixture.render_for(GoTree(tree), gofmt.check)


# -- the contract, defined once: what the harness runs is what the cluster proof creates ---------


def disagreements(harness_text: str, cluster_cases: list[contract_cases.Case], names: dict[str, cluster_cases_module.Names]) -> list[str]:
    """Where the rendered harness and the cluster proof differ: each harness case, renamed as the
    cluster renames its objects, must be the cluster's case."""
    found = []
    embedded = {case.id: case for case in contract_cases.embedded_in(harness_text)}
    if list(embedded) != [case.id for case in cluster_cases]:
        found.append(f"cases: the harness has {list(embedded)}, the cluster {[c.id for c in cluster_cases]}")
    for case in cluster_cases:
        if case.id not in embedded:
            continue
        renamed = cluster_cases_module.for_run(embedded[case.id], names[case.id])
        for field in dataclasses.fields(contract_cases.Case):
            if getattr(renamed, field.name) != getattr(case, field.name):
                found.append(f"{case.id}: {field.name} differs")
    return found


@pytest.fixture
def rendered_harness(tmp_path: Path) -> str:
    return fixture.render_for(GoTree(goshapes.make_tree(tmp_path, "v4")), gofmt.check)


def _cluster_side() -> tuple[list[contract_cases.Case], dict[str, cluster_cases_module.Names]]:
    built = cluster_cases_module.build(CASE_IDS, namespace="ns", cluster_prefix="p")
    return built, {case_id: cluster_cases_module.Names(case_id, "ns", "p") for case_id in CASE_IDS}


def test_the_harness_and_the_cluster_proof_run_the_same_cases(rendered_harness: str) -> None:
    built, names = _cluster_side()
    assert disagreements(rendered_harness, built, names) == []
    assert [case.id for case in contract_cases.embedded_in(rendered_harness)] == list(CASE_IDS)


def test_a_case_changed_on_one_side_only_is_found(rendered_harness: str) -> None:
    built, names = _cluster_side()
    tampered = rendered_harness.replace('"labels": {"team": "workflow"}', '"labels": {"team": "someone-else"}', 1)
    assert tampered != rendered_harness
    assert disagreements(tampered, built, names) == ["workflow-over-holder: workflows differs"]
    built[0] = dataclasses.replace(built[0], pods=(contract_cases.PodExpectation("holder-cluster", {"tier": "other"}, {}),))
    assert disagreements(rendered_harness, built, names) == ["holder-cluster: pods differs"]
    assert disagreements(rendered_harness, built[1:], names)[0].startswith("cases: the harness has")


def test_the_harness_holds_no_case_of_its_own(rendered_harness: str) -> None:
    template = (Path(__file__).resolve().parent.parent / "go-fixtures" / fixture.TEMPLATE).read_text()
    for case in CASE_IDS:
        assert f'"{case}"' not in template, f"the harness template names the case {case}: cases are data (patcher/harness/cases.py)"
    for kind in contract_cases.Kind:
        assert f'case "{kind.value}":' in rendered_harness, f"the harness does not interpret cases of kind {kind.value}"
