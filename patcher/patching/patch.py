"""The precedence fix for one checkout: render it from templates/ and apply it.

Only the byte ranges of the declarations the fix rewrites, adds or deletes change; every other
byte of every file stays as it was, but for an import that only the deleted code used, which goes
too (``goimports``). ``plan`` does all the work that can fail (detection, rendering, the import,
syntax and gofmt checks) before ``PatchPlan.apply`` writes anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from patcher.errors import PatchError
from patcher.patching import goimports, render, resources, shapes
from patcher.patching.gosyntax import FuncDecl, GoFile, replace_ranges
from patcher.patching.gotree import GoTree
from patcher.patching.shapes import PatchShape

# Raises PatchError when gofmt would change the code (or finds it invalid): (content, its path).
FormatCheck = Callable[[bytes, str], None]


@dataclasses.dataclass(frozen=True)
class PatchPlan:
    tree: GoTree
    shape: PatchShape
    contents: dict[str, bytes]  # relative path -> patched content, for the files that change

    @property
    def already_patched(self) -> bool:
        return self.shape.already_patched

    @property
    def shape_name(self) -> str:
        return self.shape.name

    @property
    def changed_files(self) -> list[str]:
        return sorted(self.contents)

    @property
    def packages(self) -> list[str]:
        """The Go packages the patch changes, as ``./dir/`` patterns for ``go test``."""
        return sorted({f"./{Path(path).parent.as_posix()}/" for path in self.contents})

    def apply(self) -> list[Path]:
        """Write the patched files (nothing when the tree is already patched); return their paths."""
        return [self.tree.write(relative, content) for relative, content in sorted(self.contents.items())]


def plan(tree: GoTree, gofmt: FormatCheck) -> PatchPlan:
    """Detect the shape of ``tree``'s code and render the patched files, without writing them;
    ``gofmt`` refuses a rendered file gofmt would change (``runners.gofmt.check``)."""
    shape = shapes.patch_shape(tree)
    if shape.controller is None:
        return PatchPlan(tree, shape, {})
    edits = {shapes.WORKFLOWPOD: _workflowpod_edits(tree, shape)}
    if shape.resolution is not None:
        edits[shapes.RESOLUTION] = _resolution_edits(tree, shape)
    contents = {relative: _patched(tree.file(relative), relative, file_edits) for relative, file_edits in edits.items()}
    for relative, content in contents.items():
        gofmt(content, relative)
    return PatchPlan(tree, shape, contents)


@dataclasses.dataclass(frozen=True)
class _Edit:
    """A declaration's byte range replaced with rendered code (nothing: deleted), and the packages that code uses."""

    decl: FuncDecl
    start: int
    end: int
    code: bytes
    imports: tuple[str, ...] = ()


def _workflowpod_edits(tree: GoTree, shape: PatchShape) -> list[_Edit]:
    add_metadata = tree.file(shapes.WORKFLOWPOD).method(shapes.WOC, "addMetadata")
    assert add_metadata is not None and shape.controller is not None  # detect found them
    return [_replace(add_metadata, render.render_code(resources.TEMPLATES, "controller_add_metadata.go.j2", dataclasses.asdict(shape.controller)))]


def _resolution_edits(tree: GoTree, shape: PatchShape) -> list[_Edit]:
    file = tree.file(shapes.RESOLUTION)
    assert shape.resolution is not None
    receiver_type = shape.resolution.resolution_receiver_type
    variables = dataclasses.asdict(shape.resolution)
    edits = []
    for name, template in (
        ("GetTemplateByName", "resolution_get_template_by_name.go.j2"),
        ("GetTemplateFromRef", "resolution_get_template_from_ref.go.j2"),
    ):
        decl = file.method(receiver_type, name)
        assert decl is not None  # detect found it
        edits.append(_replace(decl, render.render_code(resources.TEMPLATES, template, variables)))
    merge = file.method(receiver_type, shapes.MERGE_HELPER)
    assert merge is not None
    edits.append(_delete_with_doc(file.source, merge))
    return edits


def _patched(file: GoFile, relative: str, edits: list[_Edit]) -> bytes:
    """The file with ``edits`` applied and the imports only the replaced code used removed; a
    PatchError if it still would not compile as far as its syntax tree tells."""
    goimports.require(file, {name for edit in edits for name in edit.imports}, relative)
    content = replace_ranges(file.source, [(edit.start, edit.end, edit.code) for edit in edits])
    content = goimports.drop_left_unused(file, content, [edit.decl.node for edit in edits])
    broken = goimports.new_syntax_errors(file, GoFile(content))
    if broken:
        raise PatchError(f"the patched {relative} would not compile: {', '.join(broken)}; report this release's code shape")
    return content


def _replace(decl: FuncDecl, code: render.Code) -> _Edit:
    return _Edit(decl, decl.start, decl.end, code.text.rstrip("\n").encode(), code.imports)


def _delete_with_doc(source: bytes, decl: FuncDecl) -> _Edit:
    """Delete ``decl``, its doc comment and the blank lines around it, leaving one blank line between neighbours."""
    start = decl.doc_start
    while start > 0 and source[start - 1 : start] in (b"\n", b" ", b"\t"):
        start -= 1
    end = decl.end
    while end < len(source) and source[end : end + 1] in (b"\n", b" ", b"\t"):
        end += 1
    return _Edit(decl, start, end, b"\n\n" if end < len(source) else b"\n")
