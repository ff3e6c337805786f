"""The lint proof level: what a ref pins, reading the linters' reports, what counts as new, and
how the verdict and the reports take it (patcher/lint/, runners.testresults.new_findings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patcher.errors import InfraError, InputError
from patcher.lint import findings, lint, pins
from patcher.lint.tools import Linter
from patcher.patching.gomod import GoVersion
from patcher.reports import cells, junit, markdown, pr
from patcher.run.results import Verdict
from patcher.runners.base import ToolRun
from patcher.runners.testresults import Finding, RunResult, RunStatus, new_findings
from tests import report_samples as samples

MAKEFILE_V1 = """GOPATH := $(shell go env GOPATH)
$(GOPATH)/bin/golangci-lint:
\tcurl -sSfL https://raw.githubusercontent.com/golangci/golangci-lint/master/install.sh | sh -s -- -b `go env GOPATH`/bin v1.55.1

lint: $(GOPATH)/bin/golangci-lint
\t$(GOPATH)/bin/golangci-lint run --fix --verbose
"""
MAKEFILE_V2_TAGS = """GO_BUILD_TAGS := $(shell grep -rh '//go:build' --include='*.go' . | sort -u)
$(TOOL_GOLANGCI_LINT):
\tcurl -sSfL https://raw.githubusercontent.com/golangci/golangci-lint/v2.12.2/install.sh | sh -s -- -b `go env GOPATH`/bin v2.12.2
lint-go:
\t$(TOOL_GOLANGCI_LINT) run --fix --verbose --build-tags="$(GO_BUILD_TAGS)"
"""


def tree(tmp_path: Path, makefile: str, config: str = "run:\n  build-tags:\n    - api\n    - cli\n", files: dict[str, str] | None = None) -> Path:
    (tmp_path / "Makefile").write_text(makefile)
    (tmp_path / ".golangci.yml").write_text(config)
    for relative, text in (files or {}).items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    return tmp_path


def test_the_version_is_read_from_the_makefiles_install_rule_and_the_tags_from_the_config(tmp_path):
    pin = pins.read(tree(tmp_path, MAKEFILE_V1))
    assert (pin.version, pin.major, pin.build_tags) == ("v1.55.1", 1, ("api", "cli"))
    assert pin.package == "github.com/golangci/golangci-lint/cmd/golangci-lint" and pin.json_output() == ["--out-format", "json"]


def test_from_v41_the_tags_are_every_go_build_lines_as_the_makefile_greps_them(tmp_path):
    files = {
        "a/a.go": "//go:build api && !windows\n\npackage a\n",
        "b/b_test.go": "//go:build (functional || cron) && linux\n\npackage b\n",
        "vendor/x/x.go": "//go:build vendored\n\npackage x\n",
        ".hidden/h.go": "//go:build hidden\n\npackage h\n",
        "c/c.go": 'package c\n\nconst generated = "//go:build metrics"\n',
    }
    pin = pins.read(tree(tmp_path, MAKEFILE_V2_TAGS, "version: \"2\"\n", files))
    assert pin.version == "v2.12.2" and pin.package == "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
    assert pin.build_tags == ("api", "cron", "functional", 'metrics"')  # the Makefile's grep takes a string's text too
    assert pin.json_output()[:2] == ["--output.json.path", "stdout"]


def test_a_ref_that_pins_no_linter_or_has_no_config_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(InputError, match="pins no golangci-lint version"):
        pins.read(tree(tmp_path / "a", "lint:\n\tgolangci-lint run\n"))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "Makefile").write_text(MAKEFILE_V1)
    with pytest.raises(InputError, match="has no .golangci.yml"):
        pins.read(tmp_path / "b")


def test_the_go_an_old_linter_runs_with_is_the_trees_release_line():
    assert pins.go_of(GoVersion.parse("1.21")) == "1.21" and pins.go_of(GoVersion.parse("1.24.2")) == "1.24"


def test_golangci_lints_json_report_becomes_findings_relative_to_the_tree(tmp_path):
    report = {"Issues": [
        {"FromLinter": "errcheck", "Text": "Error return value is not checked", "Pos": {"Filename": "workflow/controller/a.go", "Line": 12}},
        {"FromLinter": "govet", "Text": "shadow: declaration of err", "Pos": {"Filename": f"{tmp_path}/workflow/controller/b.go", "Line": 3}},
    ]}  # fmt: skip
    found = findings.golangci("level=info msg=x\n" + json.dumps(report), tmp_path)
    assert found == [Finding("errcheck", "workflow/controller/a.go", 12, "Error return value is not checked"),
                     Finding("govet", "workflow/controller/b.go", 3, "shadow: declaration of err")]  # fmt: skip
    assert findings.golangci('{"Issues": null}', tmp_path) == []
    assert findings.golangci('{"Issues": null, "Report": {}}\n0 issues.\n', tmp_path) == []
    with pytest.raises(findings.Unreadable):
        findings.golangci("panic: runtime error", tmp_path)


def test_go_vets_json_objects_become_findings(tmp_path):
    output = '# example.com/x/controller\n{\n\t"example.com/x/controller": {\n\t\t"printf": [{"posn": "/src/workflow/controller/c.go:7:2", "message": "bad verb"}]\n\t}\n}\n{}\n'
    assert findings.go_vet(output, tmp_path) == [Finding("vet/printf", "workflow/controller/c.go", 7, "bad verb")]
    assert findings.go_vet("", tmp_path) == []


def test_a_finding_is_new_only_when_the_baseline_lacks_it_however_the_lines_moved():
    before = [Finding("errcheck", "a.go", 10, "unchecked"), Finding("errcheck", "a.go", 40, "unchecked"), Finding("unused", "b.go", 5, "x")]
    after = [Finding("errcheck", "a.go", 12, "unchecked"), Finding("errcheck", "a.go", 42, "unchecked"), Finding("errcheck", "a.go", 90, "unchecked"),
             Finding("unused", "b.go", 5, "x"), Finding("govet", "c.go", 1, "new")]  # fmt: skip
    assert new_findings(before, after) == [Finding("errcheck", "a.go", 90, "unchecked"), Finding("govet", "c.go", 1, "new")]
    assert new_findings(None, after) == after  # no baseline: everything counts
    assert new_findings(after, before) == []


def with_lint(result, before: list[Finding] | None, after: list[Finding] | RunStatus):
    assert result.patched is not None
    if before is not None and result.baseline is not None:
        result.baseline.proofs["lint"] = RunResult(RunStatus.OK, findings=before, tool="golangci-lint v2.12.2 (Go 1.26.8), go vet")
    if isinstance(after, RunStatus):
        result.patched.proofs["lint"] = RunResult(after, message="golangci-lint: cannot be built here")
    else:
        result.patched.proofs["lint"] = RunResult(RunStatus.OK, findings=after, tool="golangci-lint v2.12.2 (Go 1.26.8), go vet")
    return result


OLD = Finding("errcheck", "workflow/controller/operator.go", 120, "Error return value is not checked")
NEW = Finding("govet", "workflow/controller/workflowpod.go", 850, "shadow: declaration of \"err\" shadows declaration")


def test_a_new_finding_fails_the_release_an_old_one_does_not_and_a_linter_that_did_not_run_is_never_a_pass():
    assert with_lint(samples.fixed(), [OLD], [OLD]).verdict is Verdict.FIXED
    assert with_lint(samples.already_correct(), [], []).verdict is Verdict.ALREADY_CORRECT
    assert with_lint(samples.fixed(), [OLD], [OLD, NEW]).verdict is Verdict.STILL_FAILING
    assert with_lint(samples.fixed(), [OLD], RunStatus.INFRA_ERROR).verdict is Verdict.INFRA_ERROR


def test_the_reports_show_the_findings_before_and_the_new_ones_after():
    clean, brought = with_lint(samples.fixed(), [OLD], [OLD]), with_lint(samples.fixed(), [OLD], [OLD, NEW])
    assert cells.proof_cell(clean, "lint") == "1→✓" and cells.proof_cell(brought, "lint") == "1→✗1"
    assert cells.proof_counts(brought, "lint") == "1 → 1 new"
    assert "no new finding (1 there before)" in cells.reason(clean)
    assert "under upstream's linters, 1 new finding: workflow/controller/workflowpod.go:850" in cells.reason(brought)
    text = markdown.render([clean, brought])
    assert "| Lint |" in text and "workflow/controller/workflowpod.go:850" in text
    body = pr.render([brought])
    assert "Lint (golangci-lint v2.12.2 (Go 1.26.8), go vet): 1 new finding; 1 finding there before it, unchanged." in body
    failed = with_lint(samples.fixed(), [OLD], RunStatus.INFRA_ERROR)
    assert cells.proof_cell(failed, "lint") == "1→!" and "did not run to the end" in pr.render([failed])
    suites = {s.get("name"): s for s in junit.document([brought]).iter("testsuite")}
    patched = suites[f"{brought.version} lint patched"]
    assert patched.get("failures") == "1" and patched.get("tests") == "2"


def test_a_lint_run_round_trips_through_the_report():
    result = with_lint(samples.fixed(), [OLD], [OLD, NEW])
    again = type(result).from_json(json.loads(json.dumps(result.to_json())))
    assert again.patched is not None and again.patched.proofs["lint"].findings == [OLD, NEW]
    assert again.verdict is Verdict.STILL_FAILING
    assert samples.schema_errors({"results": [result.to_json()]} | _header()) == []


def _header() -> dict[str, object]:
    return {"tool": "argo-patcher", "tool_version": "0", "generated_at": "2026-12-03T00:00:00Z", "ok": False, "summary": {"still-failing": 1}}


class ToolsRunner:
    """Runs no real tool: answers golangci-lint and go vet from a script, and records the module
    fetches (the real twin: tests/test_upstream.py lints a replayed release-3.7 for real)."""

    offline = False

    def __init__(self, modules_cached: bool) -> None:
        self.modules_cached = modules_cached
        self.calls: list[str] = []

    def run_tool(self, tree: Path, tool: Path, args: list[str], **kwargs: object) -> ToolRun:
        self.calls.append("vet" if args[0] == "vet" else "golangci-lint")
        if not self.modules_cached:
            lacking = "could not import github.com/stretchr/testify/require (module lookup disabled by GOPROXY=off) (typecheck)"
            return ToolRun(1, json.dumps({"Issues": [{"FromLinter": "typecheck", "Text": lacking, "Pos": {"Filename": "a.go", "Line": 8}}]}), lacking)
        return ToolRun(0, json.dumps({"Issues": []}) if args[0] != "vet" else "", "")

    def fetch_modules(self, tree: Path, packages: list[str], **kwargs: object) -> None:
        self.calls.append("fetch")
        if self.offline:
            raise InfraError("--offline, and the module cache lacks modules the linters need; run once without --offline")
        self.modules_cached = True


def lint_with(runner: ToolsRunner, tmp_path: Path) -> RunResult:
    linter = Linter("v1.55.1", "1.21.13", tmp_path / "golangci-lint", tmp_path / "go")
    return lint(runner, tmp_path, pins.Pin("v1.55.1", ()), linter, ["./workflow/controller/"], timeout_s=60, run_id="t")  # type: ignore[arg-type]


def test_a_linter_lacking_modules_fetches_them_once_and_runs_again(tmp_path):
    """A release whose test runs were replayed from the result cache fetched no modules; the
    linters run without network, so the missing ones are fetched and the linter runs again."""
    runner = ToolsRunner(modules_cached=False)
    result = lint_with(runner, tmp_path)
    assert result.status is RunStatus.OK, result.message
    assert runner.calls == ["golangci-lint", "fetch", "golangci-lint", "vet"]
    warm = ToolsRunner(modules_cached=True)
    assert lint_with(warm, tmp_path).status is RunStatus.OK and warm.calls == ["golangci-lint", "vet"]


def test_offline_a_linter_lacking_modules_is_an_infra_error_that_says_so(tmp_path):
    runner = ToolsRunner(modules_cached=False)
    runner.offline = True
    result = lint_with(runner, tmp_path)
    assert result.status is RunStatus.INFRA_ERROR and "--offline" in result.message


class PanickingRunner(ToolsRunner):
    """golangci-lint v1.55.1 on a tree whose go.mod names Go 1.23 (v3.5.14 on): it panics on the
    standard library's range-over-func, as it did here on v3.5.15."""

    def run_tool(self, tree: Path, tool: Path, args: list[str], **kwargs: object) -> ToolRun:
        if args[0] == "vet":
            return ToolRun(0, "", "")
        stderr = ('level=error msg="[runner] Panic: buildir: package \\"slices\\" (isInitialPkg: false, needAnalyzeSource: true): '
                  'Cannot range over: func(yield func(E) bool): goroutine 11274 [running]:\\nruntime/debug.Stack()\\n\\t/go/src/x.go:24"\n'
                  'level=error msg="Running error: 1 error occurred:\\n\\t* can\'t run linter goanalysis_metalinter"\n')  # fmt: skip
        return ToolRun(3, '{"Issues": []}', stderr)


def test_a_panicking_linter_is_an_infra_error_in_one_line_without_its_stack(tmp_path):
    result = lint_with(PanickingRunner(modules_cached=True), tmp_path)
    assert result.status is RunStatus.INFRA_ERROR
    assert result.message == ('golangci-lint failed (exit code 3): it panicked: buildir: package "slices" (isInitialPkg: false, '
                              "needAnalyzeSource: true): Cannot range over: func(yield func(E) bool)")  # fmt: skip


def test_a_pin_that_fails_on_the_unpatched_tree_says_it_cannot_judge_the_change(tmp_path, monkeypatch):
    from patcher.lint import LintProof, tools
    from patcher.source.versions import Release

    for tree in ("baseline", "patched"):
        (tmp_path / tree).mkdir()
        (tmp_path / tree / "go.mod").write_text("module github.com/argoproj/argo-workflows/v3\n\ngo 1.23.1\n")
    monkeypatch.setattr(pins, "read", lambda tree: pins.Pin("v1.55.1", ()))
    monkeypatch.setattr(tools, "ensure", lambda pin, go: Linter("v1.55.1", "1.23.12", tmp_path / "golangci-lint", tmp_path / "go"))
    proof = LintProof().prove(Release("v3.5.15"), tmp_path / "baseline", tmp_path / "patched", runner=PanickingRunner(modules_cached=True),  # type: ignore[arg-type]
                              timeout_s=60, packages=["./workflow/controller/"])  # fmt: skip
    assert proof.baseline is not None and proof.baseline.status is RunStatus.INFRA_ERROR
    assert proof.baseline.message.endswith("v1.55.1 fails on the unpatched tree, so it cannot judge the change here (--no-lint proves the release without it)")
    assert proof.patched.status is RunStatus.INFRA_ERROR and "unpatched" not in proof.patched.message
