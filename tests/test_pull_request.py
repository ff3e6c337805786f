"""The pull request's body as upstream asks for it: the ref's own template, filled in (reports/pr.py).

The templates here are our own, written in the three layouts upstream's have had: sections under
``###`` headings with instructions in comments (with or without a visible checklist), and the
oldest with ``TODO:`` lines and a checklist only.
"""

from __future__ import annotations

from patcher.delivery import handover
from patcher.harness.contract import HARNESS_TEST, UPSTREAM_TESTS
from patcher.reports import pr
from patcher.run.results import ReleaseResult, Verdict
from patcher.runners.testresults import Status, TestResult
from patcher.source import versions
from tests import report_samples as samples

SECTIONED = """<!-- a note for linters -->

- [ ] Ran the repository's checks
- [ ] Signed-off commits with conventional messages
- [ ] PR title is a conventional commit message
- [ ] Unit or e2e tests cover the change
- [ ] For features: a feature file
- [ ] Opened as draft

Fixes #TODO

### Motivation

<!-- TODO: why -->

### Modifications

<!-- TODO: what -->

### Verification

<!-- TODO: how -->

### Documentation

<!-- TODO: docs -->

### AI

<!-- TODO: say which tools helped, or None -->
"""

COMMENTED = """<!--

### Before you open your PR

- [ ] Run the checks.

-->

Fixes #TODO

### Motivation

### Modifications

### Verification
"""

OLDEST = """TODO: Say why you made your changes.
TODO: Say what changes you made.
TODO: Say how you tested your changes.
TODO: Attach screenshots if you changed the UI.

Fixes #TODO
"""


def with_upstream_test(result: ReleaseResult) -> ReleaseResult:
    for run, status in ((result.baseline, Status.FAIL), (result.patched, Status.PASS)):
        assert run is not None
        for name in UPSTREAM_TESTS:
            run.tests[name] = TestResult(name, status)
    return result


def fixed(version: str, template: str, **extra: object) -> ReleaseResult:
    result = with_upstream_test(samples.fixed())
    result.version = version
    result.extra = {"ref": "branch", "pr_template": template, "maintained_lines": ["4.1", "4.0"], **extra}
    return result


def test_every_section_of_the_template_is_filled_in_and_the_ai_section_left_to_the_person():
    text = pr.render([fixed("main", SECTIONED, handed_over={"title": handover.TITLE, "signed_off": True})])
    assert "Fixes #12945" in text and "Fixes #TODO" not in text
    motivation = text[text.index("### Motivation") : text.index("### Modifications")]
    assert "Unpatched, the controller fails 2 of the 15 cases of the precedence contract on `main`:" in motivation
    assert "- `holder-cluster`:" in motivation and "\n\n\n" not in text
    modifications = text[text.index("### Modifications") : text.index("### Verification")]
    assert handover.change_description().splitlines()[0] in modifications and "TestTemplateRefPodMetadataPrecedence" in modifications
    verification = text[text.index("### Verification") : text.index("### Documentation")]
    assert "| `holder-cluster` | ❌ | ✅ |" in verification and "| the regression test | ❌ | ✅ |" in verification
    documentation = text[text.index("### Documentation") : text.index("### AI")]
    assert "None needed" in documentation
    assert text[text.index("### AI") :].strip() == "### AI\n\n<!-- TODO: say which tools helped, or None -->"
    assert text.index("<!-- TODO: why -->") < text.index("Unpatched")  # the instructions stay, the content follows them


def test_only_what_argo_patcher_did_is_ticked_the_rest_says_why_it_is_open():
    signed = pr.render([fixed("main", SECTIONED, handed_over={"title": handover.TITLE, "signed_off": True})])
    assert "- [x] Signed-off commits with conventional messages" in signed
    assert "- [x] PR title is a conventional commit message" in signed and "- [x] Unit or e2e tests cover the change" in signed
    assert "- [ ] Ran the repository's checks — for you" in signed and "- [ ] For features: a feature file — not a feature" in signed
    assert "- [ ] Opened as draft — for you, when you open the pull request" in signed
    unsigned = pr.render([fixed("main", SECTIONED)])
    assert "- [ ] Signed-off commits with conventional messages — commit with `--signoff`" in unsigned


def test_a_checklist_inside_a_comment_is_left_as_it_is_and_empty_sections_are_filled():
    text = pr.render([fixed("main", COMMENTED)])
    assert "- [ ] Run the checks." in text and "- [x]" not in text
    assert text.index("### Motivation") < text.index("Unpatched") < text.index("### Modifications") < text.index("### Verification")


def test_a_template_from_before_there_were_sections_gets_its_todos_replaced_by_them():
    text = pr.render([fixed("v3.4.10", OLDEST)])
    assert "TODO" not in text
    assert text.index("### Motivation") < text.index("### Modifications") < text.index("### Verification") < text.index("Fixes #12945")
    assert "### Documentation" in text


def test_the_pull_request_for_main_names_the_labels_of_the_maintained_lines_the_proof_covers():
    main = fixed("main", SECTIONED)
    covered = pr.render([main, fixed("release-4.1", SECTIONED)])
    assert "Labels: `cherry-pick/4.1` (the maintained line the proof below covers)." in covered
    assert "Not proved here on release-4.0: prove it too before labelling the pull request `cherry-pick/4.0`." in covered
    both = pr.render([main, fixed("release-4.1", SECTIONED), fixed("v4.0.10", SECTIONED)])
    assert "Labels: `cherry-pick/4.1`, `cherry-pick/4.0`" in both and "Not proved here" not in both
    failing = samples.still_failing()
    failing.version, failing.extra = "release-4.0", {"maintained_lines": ["4.1", "4.0"]}
    assert "Labels" not in pr.render([main, failing])  # only a line the proof passed on


def test_on_a_line_upstream_no_longer_maintains_the_body_says_who_the_commit_is_for():
    text = pr.render([fixed("release-3.7", SECTIONED)])
    assert text.startswith("> This commit is meant for forks and operators running 3.7, which upstream no longer maintains (it maintains 4.1 and 4.0)")
    assert "cherry-pick/" not in text
    assert "forks and operators" not in pr.render([fixed("release-4.1", SECTIONED)])


def test_the_title_is_the_commits_in_upstreams_form():
    assert pr.title(fixed("main", SECTIONED)) == handover.TITLE
    assert pr.title(fixed("release-3.7", SECTIONED, upstream_pr=12987)) == f"{handover.TITLE} (cherry-pick #12987 for 3.7)"


def test_the_maintained_lines_are_the_two_newest_with_a_final_release():
    releases = [versions.parse_tag(tag) for tag in ("v3.7.18", "v4.0.10", "v4.1.2", "v4.2.0-rc1", "v3.6.19")]
    assert versions.maintained_lines([r for r in releases if r is not None]) == ["4.1", "4.0"]
    assert versions.line_of("release-3.7") == (3, 7) and versions.line_of("v4.0.2") == (4, 0) and versions.line_of("main") is None


def test_the_fix_s_own_test_must_pass_after_it_and_its_failing_before_shows_a_fix():
    after_fails = samples.fixed()
    assert after_fails.patched is not None and after_fails.baseline is not None
    after_fails.patched.tests[UPSTREAM_TESTS[0]] = TestResult(UPSTREAM_TESTS[0], Status.FAIL)
    after_fails.baseline.tests[UPSTREAM_TESTS[0]] = TestResult(UPSTREAM_TESTS[0], Status.FAIL)
    assert after_fails.verdict is Verdict.STILL_FAILING  # failing before too does not make it pre-existing
    assert after_fails.pre_existing == [] and after_fails.patched.other_tests.keys().isdisjoint(UPSTREAM_TESTS)
    only_the_test = samples.already_correct()
    assert only_the_test.verdict is Verdict.ALREADY_CORRECT
    assert only_the_test.baseline is not None and only_the_test.patched is not None
    only_the_test.baseline.tests[UPSTREAM_TESTS[0]] = TestResult(UPSTREAM_TESTS[0], Status.FAIL)
    only_the_test.patched.tests[UPSTREAM_TESTS[0]] = TestResult(UPSTREAM_TESTS[0], Status.PASS)
    assert only_the_test.verdict is Verdict.FIXED
    assert HARNESS_TEST not in only_the_test.patched.upstream_tests
