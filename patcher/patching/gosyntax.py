"""Go source files as tree-sitter syntax trees: declarations, their byte ranges and signatures.

Only what patch detection needs: functions and methods (by name and receiver type), their
parameters and bodies, struct fields, interface method sets, imports and call sites. Byte
offsets index the file's UTF-8 bytes, so replacing a range keeps everything else identical.

The grammar can lag behind Go (tree-sitter-go 0.25 does not know Go 1.26's ``new(expr)``), and
its error recovery is local: a file may hold syntax errors elsewhere, but a declaration that is
used must parse cleanly, else ``InputError``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from pathlib import Path

import tree_sitter
import tree_sitter_go

from patcher.errors import InputError


@functools.cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_go.language()))


@dataclasses.dataclass(frozen=True)
class Param:
    name: str  # "" for an unnamed parameter
    type: str


@dataclasses.dataclass(frozen=True)
class FuncDecl:
    """A function or method declaration; ``start``/``end`` span ``func`` to the closing brace."""

    name: str
    receiver_name: str  # "" for functions
    receiver_type: str  # without "*"; "" for functions
    params: tuple[Param, ...]
    start: int
    end: int
    doc_start: int  # start of the ``//`` comment lines directly above, else ``start``
    node: tree_sitter.Node = dataclasses.field(compare=False, repr=False)

    def first_param_type(self) -> str | None:
        return self.params[0].type if self.params else None


class GoFile:
    """One parsed Go file."""

    def __init__(self, source: bytes, path: Path | str = "<source>") -> None:
        self.source = source
        self.path = Path(path)
        self.tree = _parser().parse(source)

    @classmethod
    def read(cls, path: Path) -> GoFile:
        try:
            return cls(path.read_bytes(), path)
        except FileNotFoundError:
            raise InputError(f"{path} not found") from None

    def text(self, node: tree_sitter.Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode()

    # Declarations

    def functions(self) -> Iterator[FuncDecl]:
        yield from self._functions

    @functools.cached_property
    def _functions(self) -> list[FuncDecl]:
        return [self._func(node) for node in self.tree.root_node.children if node.type in ("function_declaration", "method_declaration")]

    @functools.cached_property
    def package_level_names(self) -> frozenset[str]:
        """The names the file declares at package level: functions, types, variables, constants."""
        names = {f.name for f in self._functions if not f.receiver_type}
        for node in self.tree.root_node.children:
            if node.type in ("var_declaration", "const_declaration", "type_declaration"):
                for spec_type in ("var_spec", "const_spec", "type_spec", "type_alias"):
                    for spec in descendants(node, spec_type):
                        names.update(self.text(name) for name in spec.children_by_field_name("name"))
        return frozenset(names)

    def method(self, receiver_type: str, name: str) -> FuncDecl | None:
        return self._clean(next((f for f in self.functions() if f.receiver_type == receiver_type and f.name == name), None))

    def methods_named(self, name: str) -> list[FuncDecl]:
        return [self._checked(f) for f in self.functions() if f.receiver_type and f.name == name]

    def function(self, name: str) -> FuncDecl | None:
        return self._clean(next((f for f in self.functions() if not f.receiver_type and f.name == name), None))

    def _clean(self, decl: FuncDecl | None) -> FuncDecl | None:
        return None if decl is None else self._checked(decl)

    def _checked(self, decl: FuncDecl) -> FuncDecl:
        if decl.node.has_error:
            raise InputError(f"{self.path}: cannot parse the declaration of {decl.name}")
        return decl

    def _func(self, node: tree_sitter.Node) -> FuncDecl:
        receiver_name = receiver_type = ""
        receiver = node.child_by_field_name("receiver")
        if receiver is not None:
            params = self._params(receiver)
            if params:
                receiver_name, receiver_type = params[0].name, params[0].type.lstrip("*")
        return FuncDecl(
            name=self.text(_field_of(node, "name")),
            receiver_name=receiver_name,
            receiver_type=receiver_type,
            params=self._params(_field_of(node, "parameters")),
            start=node.start_byte,
            end=node.end_byte,
            doc_start=self._doc_start(node),
            node=node,
        )

    def _params(self, params: tree_sitter.Node) -> tuple[Param, ...]:
        out: list[Param] = []
        for decl in params.named_children:
            if decl.type not in ("parameter_declaration", "variadic_parameter_declaration"):
                continue
            type_text = self.text(_field_of(decl, "type"))
            if decl.type == "variadic_parameter_declaration":
                type_text = "..." + type_text
            names = decl.children_by_field_name("name")
            if names:
                out.extend(Param(self.text(n), type_text) for n in names)
            else:
                out.append(Param("", type_text))
        return tuple(out)

    def _doc_start(self, node: tree_sitter.Node) -> int:
        start = node.start_byte
        prev = node.prev_sibling
        while prev is not None and prev.type == "comment" and self.text(prev).startswith("//"):
            # Directly above: nothing but one newline between the comment and what follows it.
            if self.source[prev.end_byte : start].strip(b" \t") != b"\n":
                break
            start = prev.start_byte
            prev = prev.prev_sibling
        return start

    # Types

    def _type_spec(self, name: str, kind: str) -> tree_sitter.Node | None:
        for decl in self.tree.root_node.children:
            if decl.type != "type_declaration":
                continue
            for spec in decl.named_children:
                if spec.type == "type_spec" and self.text(_field_of(spec, "name")) == name:
                    type_node = spec.child_by_field_name("type")
                    if type_node is not None and type_node.type == kind:
                        if spec.has_error:
                            raise InputError(f"{self.path}: cannot parse the declaration of type {name}")
                        return type_node
        return None

    def struct_fields(self, name: str) -> dict[str, str] | None:
        """Field name to type text of ``type name struct``; None when there is no such struct."""
        struct = self._type_spec(name, "struct_type")
        if struct is None:
            return None
        fields: dict[str, str] = {}
        for field in descendants(struct, "field_declaration"):
            type_node = field.child_by_field_name("type")
            if type_node is None:
                continue
            for name_node in field.children_by_field_name("name"):
                fields[self.text(name_node)] = self.text(type_node)
        return fields

    def interface_methods(self, name: str) -> dict[str, tuple[Param, ...]] | None:
        """Method name to parameters of ``type name interface``; None when there is no such interface."""
        interface = self._type_spec(name, "interface_type")
        if interface is None:
            return None
        return {
            self.text(_field_of(elem, "name")): self._params(_field_of(elem, "parameters"))
            for elem in interface.named_children
            if elem.type == "method_elem"
        }

    # Imports and code

    def imports(self) -> dict[str, str]:
        """Import path to the name it is used by (its alias, else the last path element)."""
        out: dict[str, str] = {}
        for spec in descendants(self.tree.root_node, "import_spec"):
            path = self.text(_field_of(spec, "path")).strip('"`')
            alias = spec.child_by_field_name("name")
            out[path] = self.text(alias) if alias is not None else path.rsplit("/", 1)[-1]
        return out

    def calls(self, decl: FuncDecl) -> list[str]:
        """The callee expressions called in ``decl``'s body, e.g. ``maps.Copy``, ``woc.addMetadata``."""
        body = decl.node.child_by_field_name("body")
        if body is None:
            return []
        return [self.text(_field_of(call, "function")) for call in descendants(body, "call_expression")]

    def index_assignment_targets(self, decl: FuncDecl) -> list[str]:
        """The operands indexed on the left of assignments in ``decl``: ``m`` of ``m[k] = v``."""
        body = decl.node.child_by_field_name("body")
        if body is None:
            return []
        targets = []
        for assign in descendants(body, "assignment_statement"):
            for left in _field_of(assign, "left").named_children:
                if left.type == "index_expression":
                    targets.append(self.text(_field_of(left, "operand")))
        return targets


def _field_of(node: tree_sitter.Node, name: str) -> tree_sitter.Node:
    """The child in field ``name``, which the grammar always gives the nodes asked here."""
    child = node.child_by_field_name(name)
    if child is None:
        raise InputError(f"cannot parse a {node.type} at byte {node.start_byte}: it has no {name}")
    return child


def descendants(node: tree_sitter.Node, node_type: str) -> Iterator[tree_sitter.Node]:
    """``node`` and its named descendants of type ``node_type``, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == node_type:
            yield current
        stack.extend(reversed(current.named_children))


def replace_ranges(source: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """``source`` with each ``(start, end, replacement)`` applied; ranges must not overlap."""
    out = source
    last_start = len(source) + 1
    for start, end, replacement in sorted(edits, key=lambda edit: edit[0], reverse=True):
        if end > last_start:
            raise ValueError(f"overlapping edits at bytes {start}-{end}")
        out = out[:start] + replacement + out[end:]
        last_start = start
    return out
