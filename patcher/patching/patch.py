"""The precedence fix for one checkout: render it from templates/ and apply it.

Only the byte ranges of the declarations the fix rewrites, adds or deletes change; every other
byte of every file stays as it was, but for the imports, which are then made to match the patched
code (patcher/goimports.py). ``plan`` does all the work that can fail (detection, rendering, the
import and gofmt checks) before ``PatchPlan.apply`` writes anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from patcher.errors import PatchError
from patcher.patching import goimports, render, resources, shapes
from patcher.patching.gosyntax import FuncDecl, GoFile, replace_ranges
from patcher.patching.shapes import PatchShape

# Raises PatchError when gofmt would change the code (or finds it invalid): (content, its path).
FormatCheck = Callable[[bytes, str], None]


@dataclasses.dataclass(frozen=True)
class PatchPlan:
    tree: Path
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
        written = []
        for relative, content in sorted(self.contents.items()):
            path = self.tree / relative
            path.write_bytes(content)
            written.append(path)
        return written


def plan(tree: Path, gofmt: FormatCheck) -> PatchPlan:
    """Detect the shape of ``tree``'s code and render the patched files, without writing them;
    ``gofmt`` refuses a rendered file gofmt would change (``runners.gofmt.check``)."""
    shape = shapes.patch_shape(tree)
    if shape.controller is None:
        return PatchPlan(tree, shape, {})
    contents = {shapes.WORKFLOWPOD: _patched_workflowpod(tree, shape)}
    if shape.resolution is not None:
        contents[shapes.RESOLUTION] = _patched_resolution(tree, shape)
    contents = {relative: _with_imports_reconciled(tree, relative, content) for relative, content in contents.items()}
    for relative, content in contents.items():
        gofmt(content, relative)
    return PatchPlan(tree, shape, contents)


def _patched_workflowpod(tree: Path, shape: PatchShape) -> bytes:
    file = GoFile.read(tree / shapes.WORKFLOWPOD)
    add_metadata = file.method(shapes.WOC, "addMetadata")
    assert add_metadata is not None and shape.controller is not None  # detect found them
    text = render.render(resources.TEMPLATES, "controller_add_metadata.go.j2", dataclasses.asdict(shape.controller))
    return replace_ranges(file.source, [_replace(add_metadata, text)])


def _patched_resolution(tree: Path, shape: PatchShape) -> bytes:
    file = GoFile.read(tree / shapes.RESOLUTION)
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
        edits.append(_replace(decl, render.render(resources.TEMPLATES, template, variables)))
    merge = file.method(receiver_type, shapes.MERGE_HELPER)
    assert merge is not None
    edits.append(_delete_with_doc(file.source, merge))
    return replace_ranges(file.source, edits)


def _with_imports_reconciled(tree: Path, relative: str, content: bytes) -> bytes:
    """``content`` importing what its code uses and nothing else; a PatchError if it still would not compile."""
    candidates = goimports.candidates_for(tree, relative)
    reconciled = goimports.reconcile(content, candidates)
    found = goimports.problems(reconciled, candidates, original=(tree / relative).read_bytes())
    if found:
        raise PatchError(f"the patched {relative} would not compile: {', '.join(found)}; report this release's code shape")
    return reconciled


def _replace(decl: FuncDecl, text: str) -> tuple[int, int, bytes]:
    return decl.start, decl.end, text.rstrip("\n").encode()


def _delete_with_doc(source: bytes, decl: FuncDecl) -> tuple[int, int, bytes]:
    """Delete ``decl``, its doc comment and the blank lines around it, leaving one blank line between neighbours."""
    start = decl.doc_start
    while start > 0 and source[start - 1 : start] in (b"\n", b" ", b"\t"):
        start -= 1
    end = decl.end
    while end < len(source) and source[end : end + 1] in (b"\n", b" ", b"\t"):
        end += 1
    return start, end, b"\n\n" if end < len(source) else b"\n"
