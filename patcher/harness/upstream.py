"""The upstream-style regression test: the fix's own test, in the release's own test files.

Upstream reviewers expect a fix's test where the behaviour is already tested, written as those
files are written. So argo-patcher renders, for each tree, test functions appended to
``workflow/controller/operator_workflow_template_ref_test.go`` (the layers on a pod: the holder
alone, the workflow over it, the template over both, the controller's workflowDefaults; the
cached holder left unmodified) and to ``workflow/templateresolution/context_test.go`` (a
templateRef to a missing template: an error, no panic), with that release's test helpers
(``shapes.upstream_test_shape``), testify, and YAML fixtures as constants. The imports they need
are added to each file's import block. It goes into the baseline and the patched tree alike, so
the baseline shows it failing and the patched run passing, and into the commit with the fix.
"""

from __future__ import annotations

import dataclasses

from patcher.errors import InputError, PatchError
from patcher.harness.contract import UPSTREAM_TESTS
from patcher.patching import goimports, render, resources, shapes
from patcher.patching.gosyntax import GoFile
from patcher.patching.gotree import GoTree
from patcher.patching.patch import FormatCheck

# The file each template's tests are appended to.
TEMPLATES = {
    shapes.TEMPLATE_REF_TEST: "upstream_template_ref_test.go.j2",
    shapes.RESOLUTION_TEST: "upstream_resolution_test.go.j2",
}


def render_for(tree: GoTree, gofmt: FormatCheck) -> dict[str, bytes]:
    """The two test files of ``tree`` with the upstream-style tests appended (path -> content).

    ``InputError`` when the tree's test helpers have a shape argo-patcher does not know or a name
    the tests declare is taken; ``PatchError`` when the rendered files would not compile as far
    as their syntax tree tells, or are not gofmt-clean."""
    variables = dataclasses.asdict(shapes.upstream_test_shape(tree))
    if _carried(tree):
        return {}
    files = {}
    for relative, template in TEMPLATES.items():
        original = tree.file(relative)
        code = render.render_code(resources.TEMPLATES, template, variables)
        _refuse_taken_names(tree, relative, GoFile(code.text.encode()))
        content = original.source.rstrip(b"\n") + b"\n\n" + code.text.strip("\n").encode() + b"\n"
        content = goimports.add(GoFile(content, original.path), code.import_paths)
        broken = goimports.new_syntax_errors(original, GoFile(content))
        if broken:
            raise PatchError(f"the upstream-style test in {relative} would not compile: {', '.join(broken)}; report this release's code shape")
        gofmt(content, relative)
        files[relative] = content
    return files


def _carried(tree: GoTree) -> bool:
    """Whether the tree carries the upstream-style test already (a branch argo-patcher made)."""
    declared = {name for relative in TEMPLATES for file in tree.package_files(relative.rsplit("/", 1)[0], tests=True) for name in file.package_level_names}
    return all(name in declared for name in UPSTREAM_TESTS)


def _refuse_taken_names(tree: GoTree, relative: str, added: GoFile) -> None:
    directory = relative.rsplit("/", 1)[0]
    taken = frozenset().union(*(file.package_level_names for file in tree.package_files(directory, tests=True)))
    clashes = sorted(added.package_level_names & taken)
    if clashes:
        raise InputError(f"{directory} already declares {', '.join(clashes)}, which the upstream-style test declares; is it patched already?")


def test_names(files: dict[str, bytes]) -> list[str]:
    """The top-level tests the rendered files add, as ``go test -run`` names them."""
    return [name for name in UPSTREAM_TESTS if any(f"func {name}(t *testing.T)".encode() in content for content in files.values())]
