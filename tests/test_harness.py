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
from patcher.harness import fixture, upstream
from patcher.harness.contract import CASE_IDS, HARNESS_FILE, HARNESS_TEST, UPSTREAM_TESTS
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


# -- the upstream-style regression test ---------------------------------------------------------


@pytest.mark.parametrize("shape", ["v3.5", "v4"])
def test_the_upstream_style_test_goes_into_the_releases_own_test_files_with_its_helpers(tmp_path, shape):
    tree = GoTree(goshapes.make_tree(tmp_path, shape))
    files = upstream.render_for(tree, gofmt.check)
    assert sorted(files) == [shapes.TEMPLATE_REF_TEST, shapes.RESOLUTION_TEST]
    for relative, content in files.items():
        own = tree.file(relative).source
        assert own[own.index(b"\n\nfunc ") :].rstrip(b"\n") in content, "the file's own code stays as it was"
    controller = files[shapes.TEMPLATE_REF_TEST].decode()
    resolution = files[shapes.RESOLUTION_TEST].decode()
    assert upstream.test_names(files) == list(UPSTREAM_TESTS)
    assert "const podMetadataPrecedenceHolder = `" in controller  # YAML fixtures as constants, as upstream's tests have them
    for name in ("holder alone", "workflow over holder", "template over workflow and holder", "controller defaults over holder"):
        assert f'name:            "{name}"' in controller
    assert "controller.cwftmplInformer.Lister().Get(created.Name)" in controller
    assert 'require.ErrorContains(t, err, "template absent not found")' in resolution
    if shape == "v4":
        assert "ctx := logging.TestContext(t.Context())" in controller and "newController(ctx, wf.DeepCopy()" in controller
        assert "listPods(ctx, woc)" in controller and "fakewfclientset.NewClientset()" in resolution
        assert "logging.RequireLoggerFromContext(ctx))" in resolution and "tplCtx.GetTemplateFromRef(ctx, &wfv1.TemplateRef" in resolution
    else:
        assert "ctx := context.Background()" in controller and "newController(wf.DeepCopy()" in controller
        assert "listPods(woc)" in controller and "fakewfclientset.NewSimpleClientset()" in resolution
        assert "GetTemplateFromRef(&wfv1.TemplateRef" in resolution and "RequireLoggerFromContext" not in resolution
    # The imports it needs are added to the file's own block, each in its group.
    imports = controller[controller.index("import (") : controller.index(")\n")]
    assert '"github.com/stretchr/testify/require"' in imports and f'wfv1 "{tree.gomod.module}/pkg/apis/workflow/v1alpha1"' in imports
    assert imports.index('"testing"') < imports.index("\n\n") < imports.index('"github.com/stretchr/testify/assert"')  # std first


def test_a_tree_that_carries_the_upstream_style_test_gets_it_once(tmp_path):
    tree = goshapes.make_tree(tmp_path, "v3.7")
    for relative, content in upstream.render_for(GoTree(tree), gofmt.check).items():
        (tree / relative).write_bytes(content)
    assert upstream.render_for(GoTree(tree), gofmt.check) == {}


def test_a_name_the_upstream_style_test_declares_that_the_package_has_is_refused(tmp_path):
    tree = goshapes.make_tree(tmp_path, "v3.7")
    with (tree / shapes.TEMPLATE_REF_TEST).open("a") as test_file:
        test_file.write("\nconst podMetadataPrecedenceHolder = \"taken\"\n")
    with pytest.raises(InputError, match="workflow/controller already declares podMetadataPrecedenceHolder"):
        upstream.render_for(GoTree(tree), gofmt.check)


def test_a_release_without_the_test_files_the_upstream_style_test_goes_into_is_refused(tmp_path):
    tree = goshapes.make_tree(tmp_path, "v3.5")
    (tree / shapes.RESOLUTION_TEST).unlink()
    with pytest.raises(InputError, match="workflow/templateresolution/context_test.go not found"):
        upstream.render_for(GoTree(tree), gofmt.check)
