"""One Go file's imports made to match its code, as goimports does, from the syntax tree alone.

``reconcile`` removes the imports the code no longer uses and adds the ones it uses and lacks,
in gofmt's layout; ``problems`` says what still keeps the file from compiling as far as the
syntax tree can tell; ``candidates_for`` says which package each name stands for in a file's
directory. No Go toolchain is needed, so a package's name is known only from its import: the
alias, else the path. An import whose path does not tell its name is kept whatever the code uses.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import tree_sitter

from patcher.patching.gostd import STD_PACKAGES
from patcher.patching.gosyntax import GoFile

GO_KEYWORDS = frozenset(
    [
        "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for", "func", "go", "goto",
        "if", "import", "interface", "map", "package", "range", "return", "select", "struct", "switch", "type", "var",
    ]
)
BLANK, DOT = "_", "."
CGO = "C"  # import "C" carries cgo's preamble in its doc comment: never touched

_MAJOR_VERSION = re.compile(r"v[0-9]+")
_GOPKG_VERSION = re.compile(r"\.v[0-9]+$")
_SELECTED_WORD = re.compile(r"\b([A-Za-z_]\w*)\s*\.")
_FUNCTIONS = ("function_declaration", "method_declaration", "func_literal")
_INITIALIZED = ("if_statement", "expression_switch_statement", "type_switch_statement", "for_clause")


def is_identifier(name: str) -> bool:
    return name.isidentifier() and name not in GO_KEYWORDS


def path_names(path: str) -> frozenset[str]:
    """The names an import of ``path`` without an alias may be used by; empty when the path does not tell."""
    elements = path.split("/")
    last = _GOPKG_VERSION.sub("", elements[-1]) if elements[0] == "gopkg.in" else elements[-1]
    names = {last}
    if len(elements) > 1 and _MAJOR_VERSION.fullmatch(last):
        # k8s.io/api/core/v1 is package v1 but github.com/go-jose/go-jose/v4 is package jose.
        names.add(elements[-2])
    return frozenset(names) if all(map(is_identifier, names)) else frozenset()


def assumed_name(path: str) -> str:
    """goimports' guess at the name of a package whose path does not tell it (json-patch: json)."""
    elements = path.split("/")
    base = elements[-2] if len(elements) > 1 and _MAJOR_VERSION.fullmatch(elements[-1]) else elements[-1]
    base = base.removeprefix("go-")
    return re.split(r"[^\w]", base, maxsplit=1)[0]


def is_std(path: str) -> bool:
    return "." not in path.split("/", 1)[0]


@dataclasses.dataclass(frozen=True)
class Import:
    path: str
    alias: str | None  # as written: a name, "_" or "."; None when there is none
    row: int  # the 0-based line of the spec

    @property
    def names(self) -> frozenset[str]:
        """The names the code may use this import by; empty when they cannot be known."""
        if self.alias is None:
            return path_names(self.path)
        return frozenset() if self.alias in (BLANK, DOT) else frozenset({self.alias})

    @property
    def possible_names(self) -> frozenset[str]:
        """``names``, or goimports' guess when they cannot be known."""
        if self.names or self.alias in (BLANK, DOT):
            return self.names
        return frozenset({assumed_name(self.path)})

    @property
    def removable(self) -> bool:
        return bool(self.names) and self.path != CGO

    @property
    def sure_name(self) -> str | None:
        """The one name this import is used by, when its alias or path says it for sure."""
        return next(iter(self.names)) if len(self.names) == 1 else None

    def spec_text(self) -> str:
        return f'{self.alias} "{self.path}"' if self.alias else f'"{self.path}"'

    def sort_key(self) -> tuple[bytes, bytes]:
        """gofmt's order within a group of imports: by path, then by name."""
        return self.path.encode(), (self.alias or "").encode()

    def describe(self) -> str:
        """Go's wording: ``"maps"`` or ``"k8s.io/apimachinery/pkg/api/errors" imported as apierr``."""
        return f'"{self.path}" imported as {self.alias}' if self.alias else f'"{self.path}" imported'


def new_import(name: str, path: str) -> Import:
    """The import of ``path`` used by ``name``: aliased unless the path says that name for sure."""
    return Import(path, None if path_names(path) == {name} else name, row=-1)


# Reading a file


class GoCode:
    """One Go file's imports, its package-level names and the package names its code refers to."""

    def __init__(self, source: bytes) -> None:
        self.file = GoFile(source)
        self.declarations = [node for node in self.file.tree.root_node.children if node.type == "import_declaration"]
        self.imports = [spec for node in self.declarations for spec in self._specs(node)]
        self._statement_names: dict[int, list[tuple[int, frozenset[str]]]] = {}

    @classmethod
    def read(cls, path: Path) -> GoCode:
        return cls(path.read_bytes())

    def _specs(self, declaration: tree_sitter.Node) -> Iterator[Import]:
        for node in _walk(declaration):
            path = node.child_by_field_name("path")
            if node.type == "import_spec" and path is not None:
                alias = node.child_by_field_name("name")
                yield Import(self.file.text(path).strip('"`'), None if alias is None else self.file.text(alias), node.start_point[0])

    @functools.cached_property
    def package_level_names(self) -> frozenset[str]:
        return frozenset(name for node in self.file.tree.root_node.children for name in self._declared_names(node))

    @functools.cached_property
    def qualifiers(self) -> frozenset[str]:
        """The names the code uses as packages: ``x`` of ``x.Y`` where the file declares no ``x`` in scope.

        Only in the declarations that parse: the grammar's error recovery makes selectors up, even
        of a string's text (v4.1's ``new("{{workflow.parameters.x}}")``).
        """
        broken = {node.id for node in self.broken_declarations()}
        clean = (node for node in self.file.tree.root_node.children if node.id not in broken)
        return frozenset(name for node in clean for name in self._qualifiers_in(node))

    @functools.cached_property
    def maybe_qualifiers(self) -> frozenset[str]:
        """What may be packages in the declarations that do not parse: every ``x`` of ``x.`` in their text."""
        texts = (self.file.text(node) for node in self.broken_declarations())
        return frozenset(match.group(1) for text in texts for match in _SELECTED_WORD.finditer(text))

    def _qualifiers_in(self, declaration: tree_sitter.Node) -> Iterator[str]:
        for node in _walk(declaration):
            operand = None
            if node.type == "selector_expression":
                operand = node.child_by_field_name("operand")
            elif node.type == "qualified_type":
                operand = node.child_by_field_name("package")
            if operand is not None and operand.type in ("identifier", "package_identifier") and not self._declared(operand):
                yield self.file.text(operand)

    def unused(self) -> list[Import]:
        used = self.qualifiers | self.maybe_qualifiers
        return [spec for spec in self.imports if spec.removable and not spec.names & used]

    def undefined(self) -> frozenset[str]:
        """Qualifiers that no import provides."""
        provided = frozenset().union(*(spec.possible_names for spec in self.imports))
        missing = self.qualifiers - provided
        if any(spec.alias == DOT for spec in self.imports):
            missing = frozenset(name for name in missing if not name[:1].isupper())  # maybe the dot import's
        return missing

    def broken_declarations(self) -> list[tree_sitter.Node]:
        """The top-level declarations that hold a syntax error (an ERROR or MISSING node)."""
        return [node for node in self.file.tree.root_node.children if node.has_error or node.is_missing]

    # Scopes: whether an identifier is declared by the file where it is used

    def _declared(self, use: tree_sitter.Node) -> bool:
        name = self.file.text(use)
        if name in self.package_level_names:
            return True
        child, parent = use, use.parent
        while parent is not None:
            if name in self._scope_names(parent, child):
                return True
            child, parent = parent, parent.parent
        return False

    def _scope_names(self, parent: tree_sitter.Node, child: tree_sitter.Node) -> frozenset[str]:
        """The names ``parent`` declares for its part ``child``, beyond those of the enclosing scopes."""
        kind = parent.type
        if kind == "statement_list":
            return self._declared_before(parent, child.start_byte)
        if kind in ("var_spec_list", "const_spec_list"):
            # var ( a = 1; b = a ): a spec sees the names of the specs before it.
            specs = (spec for spec in parent.named_children if spec.end_byte <= child.start_byte)
            return frozenset(self.file.text(name) for spec in specs for name in spec.children_by_field_name("name"))
        if kind in _FUNCTIONS:
            return self._parameters(parent) if _is_field(parent, "body", child) else frozenset()
        if kind == "for_statement":
            return self._loop_variables(parent) if _is_field(parent, "body", child) else frozenset()
        names: set[str] = set()
        if kind in _INITIALIZED and not _is_field(parent, "initializer", child):
            names.update(self._short_var_names(parent.child_by_field_name("initializer")))
        if kind == "type_switch_statement" and child.type in ("type_case", "default_case"):
            names.update(self._identifiers(parent.child_by_field_name("alias")))
        if kind == "communication_case" and not _is_field(parent, "communication", child):
            names.update(self._short_var_names(parent.child_by_field_name("communication")))
        return frozenset(names)

    def _declared_before(self, statements: tree_sitter.Node, position: int) -> frozenset[str]:
        return frozenset(name for end, names in self._statement_declarations(statements) if end <= position for name in names)

    def _statement_declarations(self, statements: tree_sitter.Node) -> list[tuple[int, frozenset[str]]]:
        if statements.id not in self._statement_names:
            declared = [(node.end_byte, frozenset(self._declared_names(node))) for node in statements.named_children]
            self._statement_names[statements.id] = declared
        return self._statement_names[statements.id]

    def _declared_names(self, node: tree_sitter.Node) -> Iterator[str]:
        """The names a declaration or statement declares in the scope that holds it."""
        if node.type == "function_declaration":
            yield from (self.file.text(name) for name in node.children_by_field_name("name"))
        elif node.type in ("var_declaration", "const_declaration", "type_declaration"):
            for spec in _walk(node, stop=("func_literal", "struct_type", "interface_type")):
                if spec.type in ("var_spec", "const_spec", "type_spec", "type_alias"):
                    yield from (self.file.text(name) for name in spec.children_by_field_name("name"))
        elif node.type in ("short_var_declaration", "receive_statement"):
            yield from self._short_var_names(node)
        elif node.type == "labeled_statement":
            for statement in node.named_children:
                yield from self._declared_names(statement)

    def _short_var_names(self, node: tree_sitter.Node | None) -> Iterator[str]:
        """The names of ``a, b := …`` (also in a range clause or a select case); nothing for ``a, b = …``."""
        if node is not None and any(child.type == ":=" for child in node.children):
            yield from self._identifiers(node.child_by_field_name("left"))

    def _identifiers(self, node: tree_sitter.Node | None) -> Iterator[str]:
        if node is not None:
            yield from (self.file.text(child) for child in node.named_children if child.type == "identifier")

    def _parameters(self, function: tree_sitter.Node) -> frozenset[str]:
        names: set[str] = set()
        for field in ("receiver", "type_parameters", "parameters", "result"):
            parameters = function.child_by_field_name(field)
            if parameters is None or parameters.type not in ("parameter_list", "type_parameter_list"):
                continue
            for declaration in parameters.named_children:
                names.update(self.file.text(name) for name in declaration.children_by_field_name("name"))
        return frozenset(names)

    def _loop_variables(self, loop: tree_sitter.Node) -> frozenset[str]:
        names: set[str] = set()
        for clause in loop.named_children:
            if clause.type == "for_clause":
                names.update(self._short_var_names(clause.child_by_field_name("initializer")))
            elif clause.type == "range_clause":
                names.update(self._short_var_names(clause))
        return frozenset(names)


def _walk(node: tree_sitter.Node, stop: tuple[str, ...] = ()) -> Iterator[tree_sitter.Node]:
    """``node`` and its named descendants, in source order, not entering nodes of the ``stop`` types."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current.type not in stop or current is node:
            stack.extend(reversed(current.named_children))


def _is_field(parent: tree_sitter.Node, field: str, child: tree_sitter.Node) -> bool:
    node = parent.child_by_field_name(field)
    return node is not None and node.id == child.id


# Reconciling and checking


def reconcile(source: bytes, candidates: Mapping[str, str]) -> bytes:
    """``source`` without the imports its code does not use and with those it uses and lacks.

    ``candidates`` maps a package name to its import path (see ``candidates_for``); a qualifier
    that is not there stays undefined (``problems`` reports it). Lines other than the imports'
    keep their bytes; the result is as gofmt lays imports out.
    """
    code = GoCode(source)
    unused = code.unused()
    kept = [spec for spec in code.imports if spec not in unused]
    provided = frozenset().union(*(spec.possible_names for spec in kept))
    missing = sorted((code.qualifiers - provided) & candidates.keys())
    if not unused and not missing:
        return source
    editor = _ImportEditor(code)
    editor.remove(unused)
    for name in missing:
        editor.add(new_import(name, candidates[name]))
    return editor.source()


def problems(source: bytes, candidates: Mapping[str, str], original: bytes | None = None) -> list[str]:
    """What keeps ``source`` from compiling as far as its syntax tree tells, in Go's words.

    With ``original``, the file before the patch, only what the patch brought is reported: an
    undefined qualifier the original also had is a package-level name of another file, and a
    syntax error it also had is one of the grammar's (tree-sitter-go lags behind Go).
    """
    code = GoCode(source)
    before = GoCode(original) if original is not None else None
    found = [f"{spec.describe()} and not used" for spec in code.unused()]
    undefined = code.undefined() - (before.undefined() if before else frozenset())
    found += [_undefined(name, candidates) for name in sorted(undefined)]
    found += [f"syntax error at line {_first_error_row(node) + 1}" for node in _new_breakage(code, before)]
    return found


def _undefined(name: str, candidates: Mapping[str, str]) -> str:
    if name in candidates:
        return f'undefined: {name} (import "{candidates[name]}" is missing)'
    return f"undefined: {name} (no import of the file, its package or the standard library is named so)"


def _new_breakage(code: GoCode, before: GoCode | None) -> Iterator[tree_sitter.Node]:
    # A declaration the patch did not touch keeps its text, errors and all.
    known = collections.Counter(before.file.text(node) for node in before.broken_declarations()) if before else collections.Counter()
    for node in code.broken_declarations():
        text = code.file.text(node)
        if known[text] > 0:
            known[text] -= 1
        else:
            yield node


def _first_error_row(node: tree_sitter.Node) -> int:
    broken = (child for child in _walk_all(node) if child.type == "ERROR" or child.is_missing)
    return next(broken, node).start_point[0]


def _walk_all(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """Like ``_walk`` but also into anonymous nodes, where MISSING tokens are."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


# Where a missing import may come from


def candidates_for(tree: Path, relative: str) -> dict[str, str]:
    """Package name -> import path for the file ``relative`` of ``tree``, as its code may use them.

    First the file's own imports, then those of the other non-test files of its directory (a name
    they import from different paths is left out), then the standard library for the names that
    none of them imports: Argo's own ``errors`` must not turn into the standard ``errors``. Names
    declared at package level are left out: a package of that name cannot be imported.
    """
    path = tree / relative
    own = GoCode.read(path)
    siblings = [GoCode.read(p) for p in sorted(path.parent.glob("*.go")) if p != path and not p.name.endswith("_test.go")]
    found = dict(_sure_names(own.imports))
    by_name = collections.defaultdict(set)
    for sibling in siblings:
        for name, import_path in _sure_names(sibling.imports):
            by_name[name].add(import_path)
    found.update((name, paths.pop()) for name, paths in by_name.items() if len(paths) == 1 and name not in found)
    imported = {name for code in (own, *siblings) for spec in code.imports for name in spec.possible_names}
    found.update((name, import_path) for name, import_path in STD_PACKAGES.items() if name not in imported)
    declared = frozenset().union(*(code.package_level_names for code in (own, *siblings)))
    return {name: import_path for name, import_path in sorted(found.items()) if name not in declared}


def _sure_names(imports: Iterable[Import]) -> Iterator[tuple[str, str]]:
    for spec in imports:
        if spec.sure_name is not None:
            yield spec.sure_name, spec.path


# Editing the import declarations


@dataclasses.dataclass
class _Line:
    text: str
    spec: Import | None = None  # None: a blank or comment line

    @property
    def blank(self) -> bool:
        return self.spec is None and not self.text.strip()


@dataclasses.dataclass(eq=False)
class _Declaration:
    """An import declaration as lines: those inside its parentheses, or its one spec's."""

    first_row: int  # -1: a declaration to add after ``last_row``
    last_row: int
    parenthesised: bool
    lines: list[_Line]

    def specs(self, group: list[int] | None = None) -> list[Import]:
        indices = range(len(self.lines)) if group is None else group
        return [spec for i in indices if (spec := self.lines[i].spec) is not None]

    def groups(self) -> list[list[int]]:
        """The indices of the lines of each group of specs: runs of lines between blank lines."""
        groups: list[list[int]] = [[]]
        for index, line in enumerate(self.lines):
            if line.blank:
                groups.append([])
            else:
                groups[-1].append(index)
        return [group for group in groups if self.specs(group)]

    def remove(self, specs: Iterable[Import]) -> None:
        gone = set(specs)
        self.lines = _tidy([line for line in self.lines if line.spec not in gone])

    def insert_sorted(self, group: list[int], spec: Import) -> None:
        """Insert ``spec`` into ``group`` where gofmt's sort puts it."""
        members = [i for i in group if self.lines[i].spec is not None]
        after = [i for i, member in zip(members, self.specs(members), strict=True) if member.sort_key() > spec.sort_key()]
        self.lines.insert(after[0] if after else members[-1] + 1, _spec_line(spec))

    def add_group(self, spec: Import, *, first: bool) -> None:
        group = [_spec_line(spec)]
        self.lines = _tidy(group + [_Line("")] + self.lines if first else self.lines + [_Line("")] + group)

    def render(self) -> list[str]:
        """The declaration's lines; none when it imports nothing any more."""
        if not self.specs():
            return []
        if self.parenthesised or len(self.lines) > 1:
            return ["import (", *(line.text for line in self.lines), ")"]
        return ["import " + self.lines[0].text.lstrip("\t")]


def _spec_line(spec: Import) -> _Line:
    return _Line("\t" + spec.spec_text(), spec)


def _tidy(lines: list[_Line]) -> list[_Line]:
    """No blank line first, last or after another, as gofmt leaves an import block."""
    tidy: list[_Line] = []
    for line in lines:
        if not (line.blank and (not tidy or tidy[-1].blank)):
            tidy.append(line)
    while tidy and tidy[-1].blank:
        tidy.pop()
    return tidy


def _no_double_blank_lines(lines: list[str]) -> list[str]:
    kept: list[str] = []
    for line in lines:
        if not (line == "" and kept and kept[-1] == ""):
            kept.append(line)
    return kept


def _match_len(a: str, b: str) -> int:
    """goimports' measure of kinship: the number of whole path elements ``a`` and ``b`` share."""
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += x == "/"
    return shared


_Group = tuple[_Declaration, list[int]]


class _ImportEditor:
    """Removes and adds import specs line by line; every line outside the import declarations is kept."""

    def __init__(self, code: GoCode) -> None:
        self.lines = code.file.source.decode().split("\n")
        self.package_row = next(n.start_point[0] for n in code.file.tree.root_node.children if n.type == "package_clause")
        self.declarations = [d for d in (self._declaration(node, code.imports) for node in code.declarations) if d is not None]
        self.editable = [d for d in self.declarations if CGO not in (spec.path for spec in d.specs())]
        self.changed: list[_Declaration] = []

    def _declaration(self, node: tree_sitter.Node, imports: list[Import]) -> _Declaration | None:
        """``node`` as lines, or None when it is not laid out as gofmt lays it out (then it is left alone)."""
        first, last = node.start_point[0], node.end_point[0]
        specs = [spec for spec in imports if first <= spec.row <= last]
        by_row = {spec.row: spec for spec in specs}
        if len(by_row) != len(specs):
            return None  # two specs on a line
        if first == last:
            text = self.lines[first]
            if not text.startswith("import ") or len(specs) != 1:
                return None
            return _Declaration(first, last, False, [_Line("\t" + text.removeprefix("import "), specs[0])])
        if self.lines[first] != "import (" or self.lines[last] != ")":
            return None
        return _Declaration(first, last, True, [_Line(self.lines[row], by_row.get(row)) for row in range(first + 1, last)])

    def remove(self, unused: list[Import]) -> None:
        for declaration in self.declarations:
            if set(declaration.specs()) & set(unused):
                declaration.remove(unused)
                self._changed(declaration)

    def add(self, spec: Import) -> None:
        if not self.editable:
            after = max([d.last_row for d in self.declarations] or [self.package_row])
            self.editable.append(_Declaration(-1, after, False, []))
        groups = [(d, g) for d in self.editable for g in d.groups()]
        target = _std_group(groups) if is_std(spec.path) else _kindred_group(groups, spec.path)
        if target is None:
            # A group of its own: the standard library's goes first, any other last.
            declaration = self.editable[0] if is_std(spec.path) else self.editable[-1]
            declaration.add_group(spec, first=is_std(spec.path))
        else:
            declaration, group = target
            declaration.insert_sorted(group, spec)
        self._changed(declaration)

    def _changed(self, declaration: _Declaration) -> None:
        if declaration not in self.changed:
            self.changed.append(declaration)

    def source(self) -> bytes:
        rows = [[line] for line in self.lines]
        for declaration in self.changed:
            if declaration.first_row < 0:
                rows[declaration.last_row] += ["", *declaration.render(), ""]
                continue
            rows[declaration.first_row] = declaration.render()
            for row in range(declaration.first_row + 1, declaration.last_row + 1):
                rows[row] = []
        # Removing a declaration leaves the blank lines around it next to each other.
        end = max(declaration.last_row for declaration in self.changed) + 2
        head = _no_double_blank_lines([line for row in rows[:end] for line in row])
        return "\n".join(head + [line for row in rows[end:] for line in row]).encode()


def _std_group(groups: list[_Group]) -> _Group | None:
    return next(((d, g) for d, g in groups if any(is_std(spec.path) for spec in d.specs(g))), None)


def _kindred_group(groups: list[_Group], path: str) -> _Group | None:
    """The group whose paths share the most elements with ``path``; else the first third-party group."""
    scored = [(max(_match_len(spec.path, path) for spec in d.specs(g)), (d, g)) for d, g in groups]
    best = max((score for score, _ in scored), default=0)
    if best > 0:
        return next(group for score, group in scored if score == best)
    return next(((d, g) for d, g in groups if not all(is_std(spec.path) for spec in d.specs(g))), None)
