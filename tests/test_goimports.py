"""Imports reconciled with the code from the syntax tree alone (patcher/goimports.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from patcher.patching import goimports
from patcher.patching.gostd import STD_PACKAGES
from patcher.runners import gofmt

APIERR = "k8s.io/apimachinery/pkg/api/errors"
ARGO_ERRORS = "github.com/argoproj/argo-workflows/v3/errors"
CANDIDATES = {"apierr": APIERR, "errors": ARGO_ERRORS, "fmt": "fmt", "maps": "maps", "strings": "strings"}


def reconciled(source: str, candidates: dict[str, str] = CANDIDATES) -> str:
    out = goimports.reconcile(source.encode(), candidates).decode()
    assert_gofmt_clean(out)
    assert goimports.reconcile(out.encode(), candidates).decode() == out  # nothing left to do
    return out


def assert_gofmt_clean(source: str) -> None:
    binary = gofmt.binary()
    if binary is not None:
        formatted = subprocess.run([binary], input=source, capture_output=True, text=True, check=True).stdout
        assert formatted == source


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# Package names from import paths


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("maps", {"maps"}),
        (APIERR, {"errors"}),
        ("gopkg.in/yaml.v3", {"yaml"}),
        ("k8s.io/api/core/v1", {"v1", "core"}),  # a major version or a package named v1: either
        ("github.com/evanphx/json-patch", set()),  # its package is jsonpatch: the path does not say
        ("github.com/go-jose/go-jose/v4", set()),
    ],
)
def test_the_names_an_import_path_may_be_used_by(path, names):
    assert goimports.path_names(path) == names


# Removing


def test_the_last_spec_of_a_group_goes_with_its_group():
    source = """package x

import (
	"context"
	"maps"

	apierr "k8s.io/apimachinery/pkg/api/errors"

	"github.com/argoproj/argo-workflows/v3/errors"
)

func f(ctx context.Context, err error) error {
	return errors.Wrap(err)
}
"""
    assert reconciled(source) == """package x

import (
	"context"

	"github.com/argoproj/argo-workflows/v3/errors"
)

func f(ctx context.Context, err error) error {
	return errors.Wrap(err)
}
"""


def test_a_single_import_declaration_goes_with_its_blank_line():
    source = """package x

import "maps"

// f does nothing.
func f() {}
"""
    assert reconciled(source) == """package x

// f does nothing.
func f() {}
"""


def test_an_emptied_import_block_goes_entirely():
    source = """package x

import (
	"fmt"
	"maps"
)

var answer = 42
"""
    assert reconciled(source) == "package x\n\nvar answer = 42\n"


def test_an_unused_alias_goes_and_a_used_one_stays_whatever_its_path_says():
    source = """package x

import (
	apierr "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var options metav1.GetOptions
"""
    assert reconciled(source) == """package x

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var options metav1.GetOptions
"""


def test_blank_dot_cgo_and_unknown_imports_are_never_removed():
    source = """package x

// #include <stdio.h>
import "C"

import (
	_ "embed"
	. "strings"

	jsonpatch "github.com/evanphx/json-patch"
	"github.com/evanphx/json-patch/v5"
	"github.com/go-openapi/go-jsonpointer"
)
"""
    out = reconciled(source)
    assert out.replace('\tjsonpatch "github.com/evanphx/json-patch"\n', "") == source.replace(
        '\tjsonpatch "github.com/evanphx/json-patch"\n', ""
    )
    assert "jsonpatch" not in out  # aliased, so its name is known, and unused


def test_a_local_variable_named_like_a_package_is_not_that_package():
    source = """package x

import (
	"fmt"
	"log"
)

type logger struct{}

func (logger) Print(string) {}

func f(log logger) {
	log.Print("from the parameter")
}

func g() {
	fmt.Println("the package, before the variable")
	fmt := "shadowed"
	_ = fmt
	for _, log := range []logger{} {
		log.Print("from the loop variable")
	}
	if log := (logger{}); true {
		log.Print("from the if initializer")
	}
}
"""
    out = reconciled(source)
    assert '"log"' not in out and '"fmt"' in out


def test_a_variable_of_a_var_block_is_seen_by_the_specs_after_it():
    source = """package x

import "net/url"

func f(s string) string {
	var (
		_   = url.PathEscape(s)
		url = struct{ Host string }{}
		h   = url.Host
	)
	return h
}
"""
    assert goimports.GoCode(source.encode()).qualifiers == {"url"}
    assert reconciled(source) == source
    assert '"net/url"' not in reconciled(source.replace("\t\t_   = url.PathEscape(s)\n", ""))


def test_a_package_used_where_no_local_shadows_it_is_kept():
    source = """package x

import "strings"

func f(s string) string {
	{
		strings := []string{s}
		_ = strings
	}
	return strings.ToUpper(s)
}
"""
    assert reconciled(source) == source


def test_a_declaration_the_grammar_cannot_parse_keeps_its_imports_and_adds_none():
    # tree-sitter-go 0.25 does not know Go 1.26's new(expr); its error recovery reads the
    # string's text as the selector workflow.parameters (v4.1's workflowpod_test.go).
    source = b"""package x

import "strings"

func f() *string {
	return new("{{workflow.parameters.gpu}}" + strings.ToUpper("x"))
}
"""
    assert goimports.GoCode(source).broken_declarations()
    assert goimports.reconcile(source, {**CANDIDATES, "workflow": "example.com/pkg/apis/workflow"}) is source


def test_a_file_whose_imports_match_its_code_is_returned_as_it_is():
    source = b'package x\n\nimport (\n\t"fmt"\n)\n\nfunc f() { fmt.Println() }\n'
    assert goimports.reconcile(source, CANDIDATES) is source


# Adding


def test_an_import_is_added_to_the_group_sharing_the_longest_path_prefix_with_its_alias():
    source = """package x

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/argoproj/argo-workflows/v3/errors"
)

func f(ctx context.Context, err error) (metav1.Time, error) {
	if apierr.IsNotFound(err) {
		return metav1.Time{}, errors.New(errors.CodeNotFound, "gone")
	}
	return metav1.Time{}, nil
}
"""
    assert reconciled(source) == source.replace(
        '\tmetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"\n',
        '\tapierr "k8s.io/apimachinery/pkg/api/errors"\n\tmetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"\n',
    )


def test_a_standard_import_is_added_to_the_standard_group_in_order():
    source = """package x

import (
	"context"
	"strings"

	"github.com/argoproj/argo-workflows/v3/errors"
)

func f(ctx context.Context, dst, src map[string]string) error {
	maps.Copy(dst, src)
	return errors.New(strings.ToUpper("x"))
}
"""
    assert reconciled(source) == source.replace('\t"context"\n', '\t"context"\n\t"maps"\n')


def test_a_standard_import_gets_a_group_of_its_own_first_and_a_third_party_one_joins_the_first_third_party_group():
    # As goimports does when no path shares an element with the new one.
    source = """package x

import "github.com/argoproj/argo-workflows/v3/errors"

func f(dst, src map[string]string) error {
	maps.Copy(dst, src)
	return errors.New(apierr.Reason(nil))
}
"""
    assert reconciled(source) == """package x

import (
	"maps"

	"github.com/argoproj/argo-workflows/v3/errors"
	apierr "k8s.io/apimachinery/pkg/api/errors"
)

func f(dst, src map[string]string) error {
	maps.Copy(dst, src)
	return errors.New(apierr.Reason(nil))
}
"""


def test_a_third_party_import_gets_a_group_of_its_own_last_among_standard_ones():
    source = """package x

import (
	"fmt"
)

func f(err error) { fmt.Println(apierr.IsNotFound(err)) }
"""
    assert reconciled(source) == source.replace('\t"fmt"\n', '\t"fmt"\n\n\tapierr "k8s.io/apimachinery/pkg/api/errors"\n')


def test_a_file_without_imports_gets_a_declaration_after_its_package_clause():
    source = """// Package x has a doc.
package x

func f() { fmt.Println() }
"""
    assert reconciled(source) == """// Package x has a doc.
package x

import "fmt"

func f() { fmt.Println() }
"""


def test_a_qualifier_without_candidate_is_left_undefined():
    source = "package x\n\nfunc f() { yaml.Marshal(nil) }\n"
    assert reconciled(source) == source
    assert goimports.problems(source.encode(), CANDIDATES) == [
        "undefined: yaml (no import of the file, its package or the standard library is named so)"
    ]


# Problems


def test_problems_name_unused_imports_and_undefined_qualifiers_in_gos_words():
    source = b'package x\n\nimport (\n\t"maps"\n\n\tapierr "k8s.io/apimachinery/pkg/api/errors"\n)\n\nfunc f() { fmt.Println() }\n'
    assert goimports.problems(source, CANDIDATES) == [
        '"maps" imported and not used',
        '"k8s.io/apimachinery/pkg/api/errors" imported as apierr and not used',
        'undefined: fmt (import "fmt" is missing)',
    ]
    assert goimports.problems(goimports.reconcile(source, CANDIDATES), CANDIDATES) == []


def test_a_qualifier_the_original_also_left_undefined_is_not_a_problem():
    # A package-level variable of another file of the package looks like a package.
    original = b"package x\n\nfunc f() { controller.Run() }\n"
    patched = b"package x\n\nfunc f() { controller.Run() }\n\nfunc g() { controller.Stop() }\n"
    assert goimports.problems(patched, {}) == [
        "undefined: controller (no import of the file, its package or the standard library is named so)"
    ]
    assert goimports.problems(patched, {}, original=original) == []


def test_a_syntax_error_the_original_had_is_not_a_new_problem():
    # tree-sitter-go 0.25 does not know Go 1.26's new(expr).
    original = b"package x\n\nfunc a() *int {\n\treturn new(1 + 2)\n}\n\nfunc b() {}\n"
    patched = original.replace(b"func b() {}", b"func b() {\n\treturn\n}")
    assert goimports.GoCode(original).broken_declarations(), "the grammar learnt new(expr): find another error"
    assert goimports.problems(original, {}) == ["syntax error at line 4"]
    assert goimports.problems(patched, {}, original=original) == []
    broken = patched.replace(b"func b() {\n\treturn\n}", b"func b() {\n\treturn (\n}")
    assert goimports.problems(broken, {}, original=original) == ["syntax error at line 8"]


# Candidates


def test_candidates_come_from_the_file_then_its_package_then_the_standard_library(tmp_path):
    tree = write(
        tmp_path,
        {
            "pkg/a.go": f'package pkg\n\nimport (\n\tapierr "{APIERR}"\n)\n\nvar _ = apierr.IsNotFound\n',
            "pkg/b.go": 'package pkg\n\nimport (\n\tapierr "example.com/other/errors"\n\t"example.com/yaml"\n)\n',
            "pkg/c.go": 'package pkg\n\nimport "example.com/rand"\n\nvar strings = 1\n',
            "pkg/d_test.go": 'package pkg\n\nimport "example.com/testonly/maps"\n',
        },
    )
    candidates = goimports.candidates_for(tree, "pkg/a.go")
    assert candidates["apierr"] == APIERR  # the file's own import wins over another file's
    assert candidates["yaml"] == "example.com/yaml"
    assert candidates["rand"] == "example.com/rand"  # std leaves rand out: math/rand or crypto/rand
    assert candidates["maps"] == "maps"  # test files do not count
    assert candidates["fmt"] == "fmt"
    assert "strings" not in candidates  # a package-level variable: no package can be named so


def test_argos_errors_is_never_taken_for_the_standard_errors(tmp_path):
    tree = write(
        tmp_path,
        {
            "pkg/a.go": "package pkg\n",
            "pkg/b.go": f'package pkg\n\nimport "{ARGO_ERRORS}"\n\nvar _ = errors.Errorf\n',
        },
    )
    assert goimports.candidates_for(tree, "pkg/a.go")["errors"] == ARGO_ERRORS
    (tree / "pkg/b.go").unlink()
    assert goimports.candidates_for(tree, "pkg/a.go")["errors"] == "errors"


def test_a_name_two_files_of_the_package_import_from_different_paths_is_left_out(tmp_path):
    tree = write(
        tmp_path,
        {
            "pkg/a.go": "package pkg\n",
            "pkg/b.go": f'package pkg\n\nimport "{ARGO_ERRORS}"\n',
            "pkg/c.go": 'package pkg\n\nimport "errors"\n',
        },
    )
    assert "errors" not in goimports.candidates_for(tree, "pkg/a.go")


def test_the_standard_table_has_no_internal_vendor_cmd_or_ambiguous_names():
    assert STD_PACKAGES["maps"] == "maps" and STD_PACKAGES["json"] == "encoding/json"
    assert not {"rand", "template", "pprof", "scanner"} & STD_PACKAGES.keys()
    assert not [path for path in STD_PACKAGES.values() if "internal" in path.split("/") or path.split("/")[0] in ("cmd", "vendor")]
