"""The imports of a file the patch changes: those its templates use, and those its deletions leave unused.

Each template declares the packages its code uses, by the names it uses them by
(``{% set imports = [...] %}``): the file must already import each of them, else the patch is
refused. A package the replaced or deleted declarations used, and nothing in the patched file
uses any more, is removed with its line, as goimports would (v4.0.0 to v4.0.5 import ``maps`` in
``context.go`` only for the ``addPodMetadata`` the patch deletes). Nothing else of a file's
imports is touched. No release needs an import added; one that did would be refused here.

Uses are read from the syntax tree: ``x`` of ``x.Y`` (a selector or a qualified type) in the
file's declarations. In a declaration the grammar cannot parse (tree-sitter-go lags behind Go),
every ``x.`` of its text counts, so an import is never removed on a misreading.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

import tree_sitter

from patcher.errors import PatchError
from patcher.patching.gosyntax import GoFile, descendants

_MAJOR_VERSION = re.compile(r"v[0-9]+")
_GOPKG_VERSION = re.compile(r"\.v[0-9]+$")
_SELECTED_WORD = re.compile(r"\b([A-Za-z_]\w*)\s*\.")


@dataclasses.dataclass(frozen=True)
class Import:
    path: str
    alias: str | None  # as written: a name, "_" or "."; None when there is none
    start: int  # the spec's line: its first byte
    end: int  # and the byte after its newline

    @property
    def names(self) -> frozenset[str]:
        """The names the code may use this import by (a path ``k8s.io/api/core/v1`` tells ``v1`` or ``core``)."""
        if self.alias is not None:
            return frozenset() if self.alias in ("_", ".") else frozenset({self.alias})
        elements = self.path.split("/")
        last = _GOPKG_VERSION.sub("", elements[-1]) if elements[0] == "gopkg.in" else elements[-1]
        names = {last}
        if len(elements) > 1 and _MAJOR_VERSION.fullmatch(last):
            names.add(elements[-2])
        return frozenset(names)


def imports(file: GoFile) -> list[Import]:
    found = []
    for declaration in file.tree.root_node.children:
        if declaration.type != "import_declaration":
            continue
        for spec in descendants(declaration, "import_spec"):
            path, alias = spec.child_by_field_name("path"), spec.child_by_field_name("name")
            if path is None:
                continue
            start = file.source.rfind(b"\n", 0, spec.start_byte) + 1
            end = file.source.find(b"\n", spec.end_byte)
            found.append(Import(file.text(path).strip('"`'), None if alias is None else file.text(alias), start, len(file.source) if end < 0 else end + 1))
    return found


def used_names(file: GoFile, within: Iterable[tree_sitter.Node] | None = None) -> frozenset[str]:
    """The package-like qualifiers of ``within`` (by default the file's declarations but its imports)."""
    nodes = list(within) if within is not None else [n for n in file.tree.root_node.children if n.type != "import_declaration"]
    used: set[str] = set()
    for node in nodes:
        if node.has_error or node.is_missing:
            used.update(match.group(1) for match in _SELECTED_WORD.finditer(file.text(node)))
            continue
        for selector in descendants(node, "selector_expression"):
            operand = selector.child_by_field_name("operand")
            if operand is not None and operand.type == "identifier":
                used.add(file.text(operand))
        for qualified in descendants(node, "qualified_type"):
            package = qualified.child_by_field_name("package")
            if package is not None:
                used.add(file.text(package))
    return frozenset(used)


def require(file: GoFile, names: Iterable[str], relative: str) -> None:
    """Refuse a patch whose templates use a package ``file`` does not import."""
    provided = frozenset().union(*(spec.names for spec in imports(file)))
    missing = sorted(set(names) - provided)
    if missing:
        listed = ", ".join(missing)
        raise PatchError(f"the patched {relative} would not compile: it uses {listed} and does not import it; report this release's code shape")


def add(file: GoFile, wanted: Mapping[str, str]) -> bytes:
    """``file``'s source importing every package of ``wanted`` (name -> path) it does not import
    yet, each into the group of its kind, in gofmt's order: a standard package into the group of
    standard ones, another into the group whose paths share the most elements with its path;
    aliased when its path does not say its name. For code appended to a file (a test)."""
    present = imports(file)
    provided = frozenset().union(*(spec.names for spec in present))
    missing = sorted((name, path) for name, path in wanted.items() if name not in provided)
    if not missing:
        return file.source
    if not present:
        raise PatchError(f"{file.path}: the code added to it needs imports, and it has no import declaration to add them to")
    file = _parenthesised(file)
    present = imports(file)
    lines = file.source.splitlines(keepends=True)
    for name, path in missing:
        alias = "" if name in Import(path, None, 0, 0).names else f"{name} "
        row, new_group = _row_for(present, path, file)
        spec = f'\t{alias}"{path}"\n'.encode()
        lines[row:row] = [spec, b"\n"] if new_group == "before" else [b"\n", spec] if new_group == "after" else [spec]
        file = GoFile(b"".join(lines), file.path)
        present = imports(file)
    return b"".join(lines)


def _parenthesised(file: GoFile) -> GoFile:
    """``file`` with a one-spec declaration (``import "testing"``) written as a block, to add specs to."""
    for declaration in file.tree.root_node.children:
        if declaration.type == "import_declaration" and not any(child.type == "import_spec_list" for child in declaration.children):
            spec = next(descendants(declaration, "import_spec"))
            block = f"import (\n\t{file.text(spec)}\n)".encode()
            return GoFile(file.source[: declaration.start_byte] + block + file.source[declaration.end_byte :], file.path)
    return file


def _row_for(present: list[Import], path: str, file: GoFile) -> tuple[int, str]:
    """The line a new import of ``path`` goes on: in its group, before the first spec sorting
    after it; or in a group of its own (``before`` or ``after`` the others) when none is of its
    kind, standard packages first."""
    rows = [file.source.count(b"\n", 0, spec.start) for spec in present]
    groups: list[list[tuple[int, Import]]] = []
    for row, spec in zip(rows, present, strict=True):
        if groups and row == groups[-1][-1][0] + 1:
            groups[-1].append((row, spec))
        else:
            groups.append([(row, spec)])
    std = "." not in path.split("/", 1)[0]

    def shared(group: list[tuple[int, Import]]) -> int:
        return max(_common_elements(spec.path, path) for _row, spec in group)

    same_kind = [g for g in groups if any(("." not in spec.path.split("/", 1)[0]) == std for _row, spec in g)]
    if not same_kind:
        return (groups[0][0][0], "before") if std else (groups[-1][-1][0] + 1, "after")
    group = max(same_kind, key=shared)
    for row, spec in group:
        if spec.path > path:
            return row, ""
    return group[-1][0] + 1, ""


def _common_elements(a: str, b: str) -> int:
    count = 0
    for left, right in zip(a.split("/"), b.split("/"), strict=False):
        if left != right:
            break
        count += 1
    return count


def drop_left_unused(original: GoFile, patched: bytes, touched: Iterable[tree_sitter.Node]) -> bytes:
    """``patched`` without the imports that only the ``touched`` declarations of ``original`` used."""
    before = used_names(original, touched)
    after = GoFile(patched)
    still = used_names(after)
    unused = [spec for spec in imports(after) if spec.names & before and not spec.names & still and spec.path != "C"]
    out = patched
    for spec in sorted(unused, key=lambda s: s.start, reverse=True):
        out = _remove_line(out, spec.start, spec.end)
    return out


def _remove_line(source: bytes, start: int, end: int) -> bytes:
    """``source`` without the import spec on the line ``start:end``, and without the blank line or
    the empty declaration that leaves behind, as gofmt lays imports out."""
    lines = source.splitlines(keepends=True)
    row = source.count(b"\n", 0, start)
    text = [line.strip() for line in lines]
    if text[row].startswith(b"import "):  # ``import "maps"``: a declaration of its own
        first = last = row
    elif text[row - 1] == b"import (" and text[row + 1] == b")":  # the block's last spec: the block goes
        first, last = row - 1, row + 1
    else:
        first = last = row
    del lines[first : last + 1]
    text = [line.strip() for line in lines]
    # What the removal may leave: a blank line opening or closing a block, or two blank lines in a row.
    at = first
    if 0 < at < len(lines) and text[at] == b"" and (text[at - 1] in (b"", b"import (") or (at + 1 < len(lines) and text[at + 1] == b")")):
        del lines[at]
    elif 0 < at < len(lines) and text[at - 1] == b"" and text[at] == b")":
        del lines[at - 1]
    return b"".join(lines)


def new_syntax_errors(original: GoFile, patched: GoFile) -> list[str]:
    """The lines of the syntax errors the patched file has that the original did not (a declaration
    the patch did not touch keeps its text, errors and all)."""
    known = [original.text(node) for node in _broken(original)]
    found = []
    for node in _broken(patched):
        text = patched.text(node)
        if text in known:
            known.remove(text)
        else:
            found.append(f"syntax error at line {_first_error_row(node) + 1}")
    return found


def _broken(file: GoFile) -> list[tree_sitter.Node]:
    return [node for node in file.tree.root_node.children if node.has_error or node.is_missing]


def _first_error_row(node: tree_sitter.Node) -> int:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "ERROR" or current.is_missing:
            return current.start_point[0]
        stack.extend(reversed(current.children))
    return node.start_point[0]
