from __future__ import annotations

import pytest

from patcher.errors import InputError
from patcher.patching.gosyntax import GoFile, Param, replace_ranges

SOURCE = b'''package demo

import (
	"context"
	"maps"

	wfv1 "example.com/x/v3/pkg/apis/workflow/v1alpha1"
)

type Logger interface {
	Warn(ctx context.Context, msg string)
	NewBackgroundContext() context.Context
}

type ctxHolder struct {
	name, kind string
	log        Logger
}

// first line of the doc
// second line of the doc
func (c *ctxHolder) Copy(ctx context.Context, dst, src map[string]string) {
	maps.Copy(dst, src)
	for k, v := range src {
		dst[k] = v
	}
}

// a comment that is not a doc comment

func Variadic(options ...interface{}) int { return len(options) }

func uses(x *wfv1.Template) {}

func broken() *int32 {
	return new(int32(5) + 1)
}
'''


@pytest.fixture
def go() -> GoFile:
    return GoFile(SOURCE, "demo.go")


def test_methods_and_functions_are_found_by_receiver_and_name(go):
    copy = go.method("ctxHolder", "Copy")
    assert copy.receiver_name == "c" and copy.receiver_type == "ctxHolder"
    assert copy.params == (Param("ctx", "context.Context"), Param("dst", "map[string]string"), Param("src", "map[string]string"))
    assert go.source[copy.start : copy.end].startswith(b"func (c *ctxHolder) Copy(")
    assert go.source[copy.start : copy.end].endswith(b"}")
    assert go.method("other", "Copy") is None
    assert go.function("Copy") is None
    assert go.function("Variadic").params == (Param("options", "...interface{}"),)


def test_doc_comment_start_covers_only_the_lines_directly_above(go):
    copy = go.method("ctxHolder", "Copy")
    assert go.source[copy.doc_start : copy.start] == b"// first line of the doc\n// second line of the doc\n"
    variadic = go.function("Variadic")
    assert variadic.doc_start == variadic.start


def test_types_imports_and_calls(go):
    assert go.struct_fields("ctxHolder") == {"name": "string", "kind": "string", "log": "Logger"}
    assert go.struct_fields("Logger") is None
    assert set(go.interface_methods("Logger")) == {"Warn", "NewBackgroundContext"}
    assert go.imports() == {"context": "context", "maps": "maps", "example.com/x/v3/pkg/apis/workflow/v1alpha1": "wfv1"}
    copy = go.method("ctxHolder", "Copy")
    assert go.calls(copy) == ["maps.Copy"]
    assert go.index_assignment_targets(copy) == ["dst"]


def test_syntax_errors_elsewhere_are_tolerated_but_not_in_a_used_declaration():
    source = SOURCE.replace(b"return new(int32(5) + 1)", b"return new(fmt.Sprint(*x) +)")
    go = GoFile(source, "demo.go")
    assert go.method("ctxHolder", "Copy") is not None
    with pytest.raises(InputError, match="demo.go: cannot parse the declaration of broken"):
        go.function("broken")


def test_replace_ranges_applies_from_the_end_and_refuses_overlaps():
    assert replace_ranges(b"0123456789", [(1, 3, b"ab"), (6, 9, b"")]) == b"0ab3459"
    with pytest.raises(ValueError, match="overlapping"):
        replace_ranges(b"0123456789", [(1, 5, b""), (4, 6, b"")])
