"""The precedence harness rendered for each test-helper shape (tests/goshapes.py)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from patcher.errors import InputError
from patcher.harness import fixture
from patcher.harness.contract import CASE_IDS, HARNESS_FILE, HARNESS_TEST
from patcher.patching import shapes
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
    assert shapes.harness_shape(goshapes.make_tree(tmp_path, shape)) == expected


@pytest.mark.parametrize("shape", ["v3.5", "v4"])
def test_the_harness_has_one_subtest_per_case_and_uses_the_checkouts_helpers(tmp_path, shape):
    tree = goshapes.make_tree(tmp_path, shape)
    text = fixture.render_for(tree, gofmt.check)
    module = shapes.harness_shape(tree).module_path
    assert re.findall(r"^func (Test\w+)", text, re.M) == [HARNESS_TEST]
    assert tuple(re.findall(r'argoPatcherCase\(t, "([\w-]+)"', text)) == CASE_IDS
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
    path = fixture.write(tree, fixture.render_for(tree, gofmt.check))
    assert subprocess.run([GOFMT, "-l", str(path)], capture_output=True, text=True).stdout == ""


def test_write_and_remove(tmp_path):
    tree = goshapes.make_tree(tmp_path, "v3.7")
    path = fixture.write(tree, fixture.render_for(tree, gofmt.check))
    assert path == tree / "workflow/controller" / HARNESS_FILE and path.is_file()
    fixture.write(tree, fixture.render_for(tree, gofmt.check))
    fixture.remove(tree)
    assert not path.exists()
    fixture.remove(tree)


def test_unknown_test_helpers_are_refused(tmp_path):
    tree = goshapes.make_tree(tmp_path, "v3.5")
    helpers = tree / shapes.CONTROLLER_TEST
    helpers.write_text(helpers.read_text().replace("func listPods(", "func listAllPods("))
    with pytest.raises(InputError, match="func listPods in workflow/controller/controller_test.go not found"):
        fixture.render_for(tree, gofmt.check)
