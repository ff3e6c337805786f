"""The imports of the files the patch changes (patcher/patching/goimports.py), from the syntax tree alone."""

from __future__ import annotations

import subprocess

import pytest

from patcher.errors import PatchError
from patcher.patching import goimports
from patcher.patching.gosyntax import GoFile
from patcher.runners import gofmt

APIERR = "k8s.io/apimachinery/pkg/api/errors"


def dropped(original: str, patched: str, touched: tuple[str, ...] = ("f",)) -> str:
    """``patched`` as the patch leaves it, where it rewrote or deleted the functions ``touched`` of ``original``."""
    before = GoFile(original.encode())
    nodes = [decl.node for decl in before.functions() if decl.name in touched]
    assert len(nodes) == len(touched)
    out = goimports.drop_left_unused(before, patched.encode(), nodes).decode()
    assert_gofmt_clean(out)
    return out


def assert_gofmt_clean(source: str) -> None:
    binary = gofmt.binary()
    if binary is not None:
        formatted = subprocess.run([binary], input=source, capture_output=True, text=True, check=True).stdout
        assert formatted == source


def without_f(source: str) -> str:
    """``source`` with ``func f`` deleted as the patch deletes a declaration."""
    start = source.index("func f(")
    end = source.index("\n}\n", start) + 3
    return source[:start].rstrip("\n") + "\n\n" + source[end:].lstrip("\n") if source[end:].strip() else source[:start].rstrip("\n") + "\n"


@pytest.mark.parametrize(
    ("path", "alias", "names"),
    [
        ("maps", None, {"maps"}),
        (APIERR, None, {"errors"}),
        (APIERR, "apierr", {"apierr"}),
        ("gopkg.in/yaml.v3", None, {"yaml"}),
        ("k8s.io/api/core/v1", None, {"v1", "core"}),  # a major version or a package named v1: either
        ("embed", "_", set()),
        ("strings", ".", set()),
    ],
)
def test_the_names_an_import_may_be_used_by(path, alias, names):
    assert goimports.Import(path, alias, 0, 0).names == names


V4_CONTEXT = """package templateresolution

import (
	"context"
	"fmt"
	"maps"

	apierr "k8s.io/apimachinery/pkg/api/errors"

	"github.com/argoproj/argo-workflows/v3/errors"
)

func g(ctx context.Context) error {
	return errors.New(fmt.Sprint(apierr.IsNotFound(nil)))
}

func f(a, b map[string]string) {
	maps.Copy(a, b)
}
"""


def test_an_import_only_the_deleted_code_used_goes_with_its_line():
    assert dropped(V4_CONTEXT, without_f(V4_CONTEXT)) == V4_CONTEXT.replace('\t"maps"\n', "").replace(
        "\nfunc f(a, b map[string]string) {\n\tmaps.Copy(a, b)\n}\n", ""
    )


def test_an_import_the_rest_of_the_file_still_uses_stays():
    source = V4_CONTEXT.replace("return errors.New(", "maps.Clone(map[string]string{})\n\treturn errors.New(")
    assert '"maps"' in dropped(source, without_f(source))


def test_an_import_the_replaced_code_uses_again_stays():
    patched = V4_CONTEXT.replace("maps.Copy(a, b)", "maps.Copy(b, a)")
    assert dropped(V4_CONTEXT, patched) == patched


def test_an_unused_import_the_patch_did_not_leave_behind_is_left_as_it_is():
    source = V4_CONTEXT.replace('\t"maps"\n', '\t"maps"\n\t"strings"\n')
    out = dropped(source, without_f(source))
    assert '"strings"' in out and '"maps"' not in out


def test_the_last_spec_of_a_group_goes_with_its_blank_line():
    source = """package x

import (
	"context"

	"maps"

	"github.com/argoproj/argo-workflows/v3/errors"
)

func g(ctx context.Context) error { return errors.New("") }

func f(a, b map[string]string) {
	maps.Copy(a, b)
}
"""
    assert dropped(source, without_f(source)) == """package x

import (
	"context"

	"github.com/argoproj/argo-workflows/v3/errors"
)

func g(ctx context.Context) error { return errors.New("") }
"""


def test_a_single_import_declaration_goes_with_its_blank_line():
    source = """package x

import "maps"

// g does nothing.
func g() {}

func f(a, b map[string]string) {
	maps.Copy(a, b)
}
"""
    assert dropped(source, without_f(source)) == "package x\n\n// g does nothing.\nfunc g() {}\n"


def test_an_emptied_import_block_goes_entirely():
    source = """package x

import (
	"maps"
)

var answer = 42

func f(a, b map[string]string) {
	maps.Copy(a, b)
}
"""
    assert dropped(source, without_f(source)) == "package x\n\nvar answer = 42\n"


def test_blank_dot_and_cgo_imports_are_never_removed():
    source = """package x

// #include <stdio.h>
import "C"

import (
	_ "embed"
	. "strings"
)

func f() {
	C.puts(nil)
	_ = ToUpper("x")
}
"""
    assert dropped(source, without_f(source)).startswith(source[: source.index("func f(")].rstrip("\n"))


def test_a_declaration_the_grammar_cannot_parse_keeps_the_imports_its_text_may_use():
    # tree-sitter-go 0.25 does not know Go 1.26's new(expr): every ``x.`` of a broken declaration counts.
    source = """package x

import "strings"

func g() *string {
	return new("{{workflow.parameters.gpu}}" + strings.ToUpper("x"))
}

func f() string {
	return strings.ToLower("X")
}
"""
    assert GoFile(source.encode()).functions(), "the file still parses into declarations"
    assert '"strings"' in goimports.drop_left_unused(
        GoFile(source.encode()), without_f(source).encode(), [d.node for d in GoFile(source.encode()).functions() if d.name == "f"]
    ).decode()


def test_a_package_the_templates_use_and_the_file_does_not_import_is_refused():
    file = GoFile(V4_CONTEXT.encode())
    goimports.require(file, ["maps", "apierr", "errors", "context"], "workflow/templateresolution/context.go")
    with pytest.raises(PatchError, match=r"the patched workflow/templateresolution/context.go would not compile: it uses common, wfv1 and does not"):
        goimports.require(file, ["wfv1", "maps", "common"], "workflow/templateresolution/context.go")


def test_a_syntax_error_the_original_had_is_not_a_new_one():
    # tree-sitter-go 0.25 does not know Go 1.26's new(expr).
    original = b"package x\n\nfunc a() *int {\n\treturn new(1 + 2)\n}\n\nfunc b() {}\n"
    patched = original.replace(b"func b() {}", b"func b() {\n\treturn\n}")
    assert goimports.new_syntax_errors(GoFile(b"package x\n"), GoFile(original)) == ["syntax error at line 4"], "the grammar learnt new(expr): find another error"
    assert goimports.new_syntax_errors(GoFile(original), GoFile(patched)) == []
    broken = patched.replace(b"func b() {\n\treturn\n}", b"func b() {\n\treturn (\n}")
    assert goimports.new_syntax_errors(GoFile(original), GoFile(broken)) == ["syntax error at line 8"]


# Adding, for the code appended to a test file


TEST_FILE = """package controller

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	apiv1 "k8s.io/api/core/v1"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util"
)

func TestX(t *testing.T) {}
"""


def added(source: str, wanted: dict[str, str]) -> str:
    out = goimports.add(GoFile(source.encode()), wanted).decode()
    assert_gofmt_clean(out)
    return out


def test_an_import_goes_into_the_group_sharing_the_most_of_its_path_in_order():
    out = added(TEST_FILE, {"require": "github.com/stretchr/testify/require", "logging": "github.com/argoproj/argo-workflows/v3/util/logging",
                            "metav1": "k8s.io/apimachinery/pkg/apis/meta/v1", "strings": "strings"})  # fmt: skip
    assert out == TEST_FILE.replace('\t"testing"\n', '\t"strings"\n\t"testing"\n').replace(
        '\t"github.com/stretchr/testify/assert"\n', '\t"github.com/stretchr/testify/assert"\n\t"github.com/stretchr/testify/require"\n'
    ).replace('\tapiv1 "k8s.io/api/core/v1"\n', '\tapiv1 "k8s.io/api/core/v1"\n\tmetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"\n').replace(
        '\t"github.com/argoproj/argo-workflows/v3/util"\n', '\t"github.com/argoproj/argo-workflows/v3/util"\n\t"github.com/argoproj/argo-workflows/v3/util/logging"\n'
    )


def test_what_the_file_imports_already_is_not_added_again_and_nothing_is_a_no_op():
    file = GoFile(TEST_FILE.encode())
    assert goimports.add(file, {"assert": "github.com/stretchr/testify/assert", "wfv1": "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"}) is file.source


def test_a_kind_of_import_the_file_has_no_group_for_gets_a_group_of_its_own():
    source = 'package x\n\nimport "testing"\n\nfunc TestX(t *testing.T) {}\n'
    out = added(source, {"require": "github.com/stretchr/testify/require", "context": "context"})
    assert out == 'package x\n\nimport (\n\t"context"\n\t"testing"\n\n\t"github.com/stretchr/testify/require"\n)\n\nfunc TestX(t *testing.T) {}\n'


def test_a_file_without_imports_cannot_take_any():
    with pytest.raises(PatchError, match="has no import declaration"):
        goimports.add(GoFile(b"package x\n"), {"fmt": "fmt"})
