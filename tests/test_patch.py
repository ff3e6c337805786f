"""Patch detection, rendering and application on synthetic Go trees (tests/goshapes.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from patcher.errors import InputError, PatchError
from patcher.harness import fixture
from patcher.patching import patch, render, resources, shapes
from patcher.patching.gosyntax import GoFile
from patcher.patching.gotree import GoTree
from patcher.patching.shapes import ControllerShape, ResolutionShape
from patcher.runners import gofmt
from tests import goshapes

GO = shutil.which("go")
needs_go = pytest.mark.skipif(GO is None, reason="no Go toolchain on PATH")

EXPECTED = {
    "v3.5": (ControllerShape("pod.ObjectMeta", "range", False, False, "logrus"), None),
    "v3.7": (ControllerShape("pod", "range", False, False, "logrus"), ResolutionShape("ctx", "Context", False, "logrus")),
    "v4": (
        ControllerShape("pod", "maps_copy", True, True, "structured"),
        ResolutionShape("tplCtx", "TemplateContext", True, "structured"),
    ),
}
# The variants that exercise the imports detect as their release line does; the patch of
# v3.7-apierr-sibling is refused (an import it would need), so it is detected only.
EXPECTED["v4.0"] = EXPECTED["v4"]
DETECTED = {**EXPECTED, "v3.7-apierr-sibling": EXPECTED["v3.7"]}


@pytest.fixture(params=sorted(EXPECTED))
def shape(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tree(tmp_path: Path, shape: str) -> Path:
    return goshapes.make_tree(tmp_path / shape, shape)


def go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOWORK": "off"}


@pytest.mark.parametrize("detected_shape", sorted(DETECTED))
def test_each_shape_is_detected_from_its_code(tmp_path, detected_shape):
    found = shapes.patch_shape(GoTree(goshapes.make_tree(tmp_path / detected_shape, detected_shape)))
    assert (found.controller, found.resolution) == DETECTED[detected_shape]
    assert not found.already_patched


def test_an_unknown_shape_is_refused_naming_what_was_not_found(tmp_path):
    tree = goshapes.make_tree(tmp_path / "unknown", "unknown")
    with pytest.raises(InputError, match="addMetadata copies metadata in an unknown way"):
        patch.plan(GoTree(tree), gofmt.check)


def test_a_missing_declaration_is_named(tmp_path):
    tree = goshapes.make_tree(tmp_path / "t", "v3.7")
    path = tree / shapes.OPERATOR
    path.write_text(path.read_text().replace("createTemplateContext(", "makeTemplateContext("))
    with pytest.raises(InputError, match=r"func \(woc \*wfOperationCtx\) createTemplateContext in workflow/controller/operator.go not found"):
        patch.plan(GoTree(tree), gofmt.check)


def test_a_tree_that_is_not_argo_is_refused(tmp_path):
    with pytest.raises(InputError, match="workflow/controller/workflowpod.go not found"):
        patch.plan(GoTree(tmp_path), gofmt.check)


def test_plan_writes_nothing_and_apply_changes_only_the_rewritten_declarations(tree, shape):
    before = {path: path.read_bytes() for path in tree.rglob("*.go")}
    plan = patch.plan(GoTree(tree), gofmt.check)
    assert {path: path.read_bytes() for path in tree.rglob("*.go")} == before

    expected_files = ["workflow/controller/workflowpod.go"] + (["workflow/templateresolution/context.go"] if EXPECTED[shape][1] else [])
    assert plan.changed_files == expected_files
    assert plan.packages == sorted({f"./{Path(f).parent}/" for f in expected_files})
    plan.apply()

    changed = {path for path, content in before.items() if path.read_bytes() != content}
    assert changed == {tree / f for f in expected_files}
    old = GoFile(before[tree / shapes.WORKFLOWPOD])
    new = GoFile.read(tree / shapes.WORKFLOWPOD)
    old_decl, new_decl = old.method("wfOperationCtx", "addMetadata"), new.method("wfOperationCtx", "addMetadata")
    assert new.source[: new_decl.start] == old.source[: old_decl.start]
    helper = new.method("wfOperationCtx", shapes.HOLDER_HELPER)
    assert new.source[helper.end :] == old.source[old_decl.end :]
    assert "woc.templateHolderPodMetadata" in new.calls(new_decl)


def test_the_merge_in_template_resolution_is_removed(tmp_path):
    tree = goshapes.make_tree(tmp_path / "v4", "v4")
    patch.plan(GoTree(tree), gofmt.check).apply()
    text = (tree / shapes.RESOLUTION).read_text()
    assert "addPodMetadata" not in text
    assert "// addPodMetadata" not in text
    assert "\n\n\n" not in text
    assert text.endswith("}\n")
    by_name = GoFile.read(tree / shapes.RESOLUTION).method("TemplateContext", "GetTemplateByName")
    body = text.encode()[by_name.start : by_name.end].decode()
    assert body.index("if tmpl == nil") < body.index("return tmpl.DeepCopy()")


def test_an_import_used_only_by_the_deleted_merge_is_removed(tmp_path):
    tree = goshapes.make_tree(tmp_path / "v4.0", "v4.0")
    before = (tree / shapes.RESOLUTION).read_text()
    assert '\t"maps"\n' in before
    after = patch.plan(GoTree(tree), gofmt.check).contents[shapes.RESOLUTION].decode()
    assert '"maps"' not in after and "maps." not in after
    imports = after[after.index("import (") : after.index(")\n") + 2]
    assert imports == before[before.index("import (") : before.index(")\n") + 2].replace('\t"maps"\n', "")


@pytest.mark.parametrize("shape", ["v3.7-apierr-nowhere", "v3.7-apierr-sibling"])
def test_a_patch_whose_code_uses_a_package_the_file_does_not_import_is_refused_in_one_line(tmp_path, shape):
    # No release needs an import added: one would be refused, even where another file of its
    # package imports the package (v3.7-apierr-sibling).
    tree = goshapes.make_tree(tmp_path / "t", shape)
    assert "apierr" not in (tree / shapes.RESOLUTION).read_text()
    before = {path: path.read_bytes() for path in tree.rglob("*.go")}
    with pytest.raises(PatchError) as refused:
        patch.plan(GoTree(tree), gofmt.check)
    message = str(refused.value)
    assert message.startswith("the patched workflow/templateresolution/context.go would not compile: it uses apierr and does not import it")
    assert message.endswith("report this release's code shape") and "\n" not in message
    assert refused.value.exit_code == 1
    assert {path: path.read_bytes() for path in tree.rglob("*.go")} == before


def test_a_patched_tree_is_recognised_and_left_alone(tree):
    patch.plan(GoTree(tree), gofmt.check).apply()
    after = {path: path.read_bytes() for path in tree.rglob("*.go")}
    again = patch.plan(GoTree(tree), gofmt.check)
    assert again.already_patched and again.contents == {} and again.changed_files == []
    assert again.shape_name == "already patched"
    assert again.apply() == []
    assert {path: path.read_bytes() for path in tree.rglob("*.go")} == after


def test_a_half_patched_tree_is_refused(tmp_path):
    tree = goshapes.make_tree(tmp_path / "v3.7", "v3.7")
    pristine_resolution = (tree / shapes.RESOLUTION).read_bytes()
    patch.plan(GoTree(tree), gofmt.check).apply()
    (tree / shapes.RESOLUTION).write_bytes(pristine_resolution)
    with pytest.raises(InputError, match="not patched as argo-patcher patches it"):
        patch.plan(GoTree(tree), gofmt.check)


def test_a_missing_template_variable_is_an_error_not_an_empty_string():
    variables = dict(pod_meta_expr="pod", metadata_copy="range", template_context_takes_ctx=False, controller_logger="logrus")
    with pytest.raises(InputError, match="'with_template_holder_takes_ctx' is undefined"):
        render.render(resources.TEMPLATES, "controller_add_metadata.go.j2", variables)


def test_an_unknown_variable_value_fails_the_rendering():
    variables = dict(
        pod_meta_expr="pod",
        metadata_copy="slices",
        template_context_takes_ctx=False,
        with_template_holder_takes_ctx=False,
        controller_logger="logrus",
    )
    with pytest.raises(InputError, match="unknown metadata_copy: slices"):
        render.render(resources.TEMPLATES, "controller_add_metadata.go.j2", variables)


def test_data_directories_come_from_the_wheel_layout_first(tmp_path):
    from patcher import selfcode

    package = tmp_path / "site" / "patcher"
    (package / "_data" / "templates").mkdir(parents=True)
    (package / "_data" / "templates" / "a.j2").write_text("wheel")
    (tmp_path / "site" / "templates").mkdir()
    (tmp_path / "site" / "templates" / "a.j2").write_text("beside")
    assert selfcode.read_files(package) == {"patcher/_data/templates/a.j2": b"wheel"}
    editable = tmp_path / "repo" / "patcher"
    editable.mkdir(parents=True)
    (editable / "__init__.py").write_text("")
    (tmp_path / "repo" / "go-fixtures").mkdir()
    (tmp_path / "repo" / "go-fixtures" / "h.j2").write_text("fixture")
    assert selfcode.read_files(editable) == {"patcher/__init__.py": b"", "patcher/_data/go-fixtures/h.j2": b"fixture"}
    assert resources.data_dir("templates") == selfcode.root() / "patcher" / "_data" / "templates"


@pytest.mark.go
@needs_go
def test_patched_code_is_gofmt_clean_vets_and_keeps_the_precedence(tree, tmp_path):
    env = go_env()
    before = subprocess.run([GO, "test", "-count=1", "./workflow/controller/"], cwd=tree, env=env, capture_output=True, text=True)
    assert before.returncode != 0 and "templateRef pod labels" in before.stdout, before.stdout + before.stderr

    patch.plan(GoTree(tree), gofmt.check).apply()
    gofmt_binary = Path(GO).parent / "gofmt"
    assert subprocess.run([gofmt_binary, "-l", "."], cwd=tree, capture_output=True, text=True).stdout == ""
    vet = subprocess.run([GO, "vet", "./..."], cwd=tree, env=env, capture_output=True, text=True)
    assert vet.returncode == 0, vet.stderr
    after = subprocess.run([GO, "test", "-count=1", "./workflow/controller/"], cwd=tree, env=env, capture_output=True, text=True)
    assert after.returncode == 0, after.stdout + after.stderr


def test_a_tree_is_parsed_once_for_its_shapes_its_patch_and_its_harness(tmp_path):
    tree = GoTree(goshapes.make_tree(tmp_path / "t", "v4.0"))
    plan = patch.plan(tree, gofmt.check)
    fixture.render_for(tree, gofmt.check)
    assert sorted(tree.parses) == sorted(set(tree.parses)), "a file was parsed twice"
    assert {shapes.WORKFLOWPOD, shapes.RESOLUTION, shapes.OPERATOR, shapes.CONTROLLER_TEST} <= set(tree.parses)
    assert not [path for path in tree.parses if path.startswith("workflow/") and path.rsplit("/", 1)[-1] not in
                {"workflowpod.go", "operator.go", "controller.go", "context.go", "controller_test.go"}], tree.parses
    plan.apply()
    assert shapes.patch_shape(tree).already_patched  # read again after the patch wrote it
    assert tree.parses.count(shapes.WORKFLOWPOD) == 2
