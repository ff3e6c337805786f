from __future__ import annotations

import io

import pytest
from rich.console import Console

from patcher.harness.contract import CASE_IDS
from patcher.reports import cells, terminal
from patcher.run.results import Verdict
from patcher.runners.testresults import Status
from patcher.runners.testresults import TestResult as GoTest
from tests import report_samples as samples


def render(results, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    terminal.print_report(results, console)
    return console.file.getvalue()


def test_the_samples_cover_every_verdict():
    assert {r.verdict for r in samples.every_verdict()} == set(Verdict)


def test_case_cells_show_before_and_after():
    fixed = samples.fixed()
    assert cells.case_cell(fixed, "holder-cluster") == "✗→✓"
    assert cells.case_cell(fixed, "holder-namespaced") == "✓→✓"
    assert cells.case_cell(samples.passed(), "union") == "–→✓"
    assert cells.case_cell(samples.build_error(), "union") == "✓→!"
    assert cells.case_cell(samples.patch_error(), "holder-cluster") == "–→–"
    assert cells.case_cell(samples.pre_existing(), "nothing-set") == "✓→✓"


def test_abbreviations_are_unique_and_short():
    short = cells.abbreviations()
    assert list(short) == list(CASE_IDS)
    assert len(set(short.values())) == len(CASE_IDS)
    assert all(len(s) <= 3 for s in short.values())
    assert short["workflow-over-holder"] == "woh"


def test_wide_table_fits_100_columns_with_a_row_per_release():
    results = samples.every_verdict()
    text = render(results, 100)
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= 100 for line in lines)
    header = next(line for line in lines if line.startswith("release"))
    assert "woh" in header and "verdict" in header
    for result in results:
        row = next(line for line in lines if line.startswith(result.version))
        assert result.verdict.value in row
    assert "✗→✓" in next(line for line in lines if line.startswith("v3.4.17"))
    assert "woh=workflow-over-holder" in text  # the legend explains the short headers


def test_narrow_terminal_gets_a_row_per_case():
    results = samples.every_verdict()
    text = render(results, 70)
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= 70 for line in lines)
    for case in CASE_IDS:
        assert any(line.startswith(case + " ") for line in lines), case
    assert not any(line.startswith("release ") for line in lines)


def test_regression_failures_and_details_are_listed():
    text = render(samples.every_verdict(), 100)
    assert "Upstream tests that failed" in text
    assert "v3.7.18 patched: TestTemplateRef" in text
    assert "v3.5.5 patched: Test_createWorkflowPod_emissary (pre-existing)" in text
    assert "v3.5.5 flaky: TestRetry (passed on a rerun)" in text
    details = text.split("Failures", 1)[1]
    assert samples.ASSERTION in details  # the output excerpt of a failed patched case
    assert "undefined: mergePodMetadata" in details  # the compiler's message
    assert "imported and not used" in details  # the broken patch
    assert "addMetadata copies metadata in an unknown way" in details  # the unrecognised shape
    assert "timed out after 600s" in details
    for ok in ("v3.4.17", "v3.6.19", "v4.2.0", "v3.4.18", "v3.5.5"):
        assert f"\n{ok} " not in details


def test_a_parent_test_failing_only_through_its_subtests_is_not_listed_again():
    result = samples.still_failing()
    parent = samples.HARNESS_TEST
    result.patched.tests[parent] = GoTest(parent, Status.FAIL, 0.1, f"--- FAIL: {parent}")
    assert [t.name for t in cells.failed_tests(result.patched)] == [f"{parent}/template-over-holder", "TestTemplateRef"]
    assert f"patched: {parent} failed" not in render([result], 100)


def test_a_run_that_did_not_build_shows_an_error_mark_for_its_regression_tests():
    assert cells.regression_cell(samples.build_error()) == "–→!"


def test_nothing_failed_means_no_failure_section():
    text = render([samples.fixed(), samples.already_correct()], 100)
    assert "Failures" not in text
    assert "Upstream tests that failed" not in text


def test_excerpt_keeps_the_end_and_says_what_it_left_out():
    output = "\n".join(f"line {n}" for n in range(100)) + "\n\x1b[31mFAIL\x1b[0m"
    text = cells.excerpt(output, max_lines=5)
    assert text.splitlines()[-1] == "FAIL"
    assert text.startswith("… (96 earlier lines omitted)")
    assert "line 96" in text and "line 95" not in text


@pytest.mark.parametrize("make", samples.ALL)
def test_summary_line_names_the_release_verdict_and_reason(make):
    result = make()
    line, tally = terminal.summary_lines([result])
    assert line.plain.startswith(("✓ " if result.ok else "✗ ") + result.version)
    assert result.verdict.value in line.plain
    assert cells.reason(result) in line.plain
    assert tally.plain == f"1 release: 1 {result.verdict.value}"


def test_reasons_say_what_failed():
    assert cells.reason(samples.fixed()) == "cases passing 13/15 before, 15/15 after"
    assert cells.reason(samples.still_failing()) == "after the patch: fail cases template-over-holder; tests TestTemplateRef"
    # One line: the compiler's error, not the "# package" header Go puts above it.
    assert cells.reason(samples.build_error()) == "patched: build-error: ./operator.go:12:3: undefined: mergePodMetadata"
    assert cells.reason(samples.pre_existing()) == "cases passing 14/15 before, 15/15 after (1 pre-existing failure, 1 flaky)"
    assert cells.reason(samples.patched_untested()) == "patched, not tested (addMetadata range into pod.ObjectMeta)"
    assert cells.headline(samples.every_verdict()).startswith(f"{len(samples.ALL)} releases: 3 fixed, 1 already-correct, 1 passed, 1 patched")


def test_the_real_controllers_proof_gets_a_column_and_a_table_of_its_own():
    text = render([samples.fixed(), samples.with_cluster()], 200)
    assert "cluster" in text.split("\n", 1)[0]  # the column group's header
    assert "✗2→✓" in text and "–→–" in text  # a release proved without --cluster has none
    assert "The real workflow-controller against a real API server (--cluster), per case" in text
