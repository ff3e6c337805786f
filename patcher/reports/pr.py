"""A pull request's body as upstream asks for it: the ref's own ``.github/pull_request_template.md``
with each section filled in from the proof.

- Motivation: the cases of the contract that fail before the change.
- Modifications: what the change does, and its regression test.
- Verification: each proof level's table, and the one command that reproduces them.
- Documentation: why no change is needed.

In the template's checklist only what argo-patcher did is ticked (a signed-off commit, a
conventional title, tests that cover the change); the rest stays open with a short note. The AI
section is left for the person who opens the pull request. Templates from before there were
sections (v3.4) get the sections appended. The pull request for ``main`` names the
``cherry-pick/X.Y`` labels of the lines upstream maintains that the proof covers; on a line
upstream no longer maintains, the body says that the commit is meant for forks and operators.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from patcher.delivery import handover
from patcher.harness.contract import CASE_DESCRIPTIONS, CASE_IDS, UPSTREAM_TESTS
from patcher.reports import cells
from patcher.reports.markdown import EMOJI, NOT_RUN, cell, verdict_mark
from patcher.run.results import ReleaseResult, Verdict
from patcher.runners.testresults import RunResult
from patcher.source import mirrors, versions

ISSUE_URL = f"https://github.com/argoproj/argo-workflows/issues/{handover.ISSUE}"
SECTIONS = ("Motivation", "Modifications", "Verification", "Documentation")
# The placeholder lines of the v3.4 templates that had no sections, and the section each asks for.
_PLACEHOLDERS = {"say why": "Motivation", "say what changes": "Modifications", "say how you tested": "Verification"}
_HEADING = re.compile(r"^###\s+(\w+)\s*$")
_CHECKBOX = re.compile(r"^(\s*[-*]\s+)\[ \]\s+(.*)$")
DOCUMENTATION = (
    "None needed: the `podMetadata` of a WorkflowTemplate or ClusterWorkflowTemplate already applies to the pods of "
    "its templates; the change makes the pods of templates reached by `templateRef` follow it, beneath the "
    "workflow's `podMetadata` and the template's own metadata."
)


def title(result: ReleaseResult) -> str:
    """The pull request's title: the commit's, in upstream's conventional form."""
    made = result.extra.get("handed_over") or {}
    upstream_pr = result.extra.get("upstream_pr")
    return str(made.get("title") or handover.commit_title(result.version, upstream_pr if isinstance(upstream_pr, int) else None))


def render(results: list[ReleaseResult]) -> str:
    """The body of the pull request of the first result's ref (``main``'s when it is among them),
    verified by every result."""
    primary = next((r for r in results if r.version == "main"), results[0])
    template = str(primary.extra.get("pr_template") or "")
    sections = {
        "Motivation": _motivation(results),
        "Modifications": _modifications(),
        "Verification": _verification(results),
        "Documentation": [DOCUMENTATION],
    }
    body = _filled(template, sections, _ticks(primary)) if template else _sections_only(sections)
    return "\n".join([*_audience(primary, results), body.rstrip()]).rstrip() + "\n"


# -- the template ----------------------------------------------------------------------------------


def _filled(template: str, sections: dict[str, list[str]], tick: Callable[[str], str]) -> str:
    lines = template.replace("Fixes #TODO", f"Fixes #{handover.ISSUE}").splitlines()
    out: list[str] = []
    current: str | None = None
    filled: set[str] = set()

    def close_section() -> None:
        if current in sections and current not in filled:
            while out and not out[-1].strip():
                out.pop()
            out.extend(["", *sections[current], ""])
            filled.add(current)

    in_comment = False
    for line in lines:
        heading = _HEADING.match(line)
        if heading:
            close_section()
            current = heading.group(1) if not in_comment else None
            out.append(line)
            continue
        placeholder = next((name for key, name in _PLACEHOLDERS.items() if line.startswith("TODO:") and key in line.lower()), None)
        if placeholder is not None and placeholder not in filled:
            out.extend([f"### {placeholder}", "", *sections[placeholder], ""])
            filled.add(placeholder)
            continue
        if line.startswith("TODO:") and "screenshot" in line.lower():
            continue  # no UI change
        in_comment = (in_comment or "<!--" in line) and "-->" not in line.split("<!--")[-1]
        checkbox = _CHECKBOX.match(line)
        out.append(tick(line) if checkbox and not in_comment else line)
    close_section()
    missing = [name for name in SECTIONS if name not in filled]
    if missing:  # a template without these sections (v3.4): they follow it
        out.extend(["", _sections_only({name: sections[name] for name in missing})])
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


def _sections_only(sections: dict[str, list[str]]) -> str:
    parts = [f"Fixes #{handover.ISSUE}", ""] if "Motivation" in sections else []
    for name, content in sections.items():
        parts += [f"### {name}", "", *content, ""]
    return "\n".join(parts)


def _ticks(result: ReleaseResult) -> Callable[[str], str]:
    """Tick what argo-patcher did; note on the rest why it is still open."""
    made = result.extra.get("handed_over") or {}
    signed = bool(made.get("signed_off"))

    def tick(line: str) -> str:
        match = _CHECKBOX.match(line)
        assert match is not None
        lead, item = match.groups()
        lower = item.lower()
        done = ("unit or e2e tests" in lower or ("conventional commit" in lower and ("sign" not in lower or signed))
                or ("fixes #" in lower and "pr title" in lower) or ("sign" in lower and signed))  # fmt: skip
        if done:
            return f"{lead}[x] {item}"
        if "pre-commit" in lower:
            note = "not run by argo-patcher (it ran golangci-lint and go vet on the changed packages: see Verification)"
        elif "sign" in lower:
            note = "commit with `--signoff` (argo-patcher's `--commit-to … --signoff` does)"
        elif "feature" in lower:
            note = "not a feature"
        else:
            note = "for you, when you open the pull request"
        return f"{lead}[ ] {item} — {note}"

    return tick


def _audience(primary: ReleaseResult, results: list[ReleaseResult]) -> list[str]:
    """Who the change is for: upstream's main and the lines it maintains, or forks and operators."""
    maintained = [str(line) for line in primary.extra.get("maintained_lines") or []]
    if not maintained:
        return []
    line = versions.line_of(primary.version)
    if primary.version == "main":
        covered = [x for x in maintained if any(_on_line(r, x) and r.ok for r in results)]
        lines = []
        if covered:
            lines.append("Labels: " + ", ".join(f"`cherry-pick/{x}`" for x in covered)
                         + f" (the maintained {'lines' if len(covered) > 1 else 'line'} the proof below covers).")  # fmt: skip
        rest = [x for x in maintained if x not in covered]
        if rest:
            lines.append(f"Not proved here on {', '.join(f'release-{x}' for x in rest)}: prove {'them' if len(rest) > 1 else 'it'} too "
                         f"before labelling the pull request {', '.join(f'`cherry-pick/{x}`' for x in rest)}.")  # fmt: skip
        return [*lines, ""]
    if line is not None and f"{line[0]}.{line[1]}" not in maintained:
        return [f"> This commit is meant for forks and operators running {line[0]}.{line[1]}, which upstream no longer maintains "
                f"(it maintains {' and '.join(maintained)}); it is not meant to be merged upstream.", ""]  # fmt: skip
    return []


def _on_line(result: ReleaseResult, line: str) -> bool:
    found = versions.line_of(result.version)
    return found is not None and f"{found[0]}.{found[1]}" == line


# -- the sections ----------------------------------------------------------------------------------


def _motivation(results: list[ReleaseResult]) -> list[str]:
    lines = [
        f"Pods of templates reached by `templateRef` ignore the `podMetadata` of the WorkflowTemplate or ClusterWorkflowTemplate "
        f"that holds the template ([#{handover.ISSUE}]({ISSUE_URL})), and releases that copy it into the template let it outrank "
        "the workflow's `podMetadata`. The precedence is holder < workflow < template.",
        "",
    ]
    for result in results:
        lines += _what_was_wrong(result)
    return lines


def _modifications() -> list[str]:
    tests = ", ".join(f"`{name}`" for name in UPSTREAM_TESTS)
    return [handover.change_description(), "", f"The regression test goes where the behaviour is tested already: {tests}."]


def _verification(results: list[ReleaseResult]) -> list[str]:
    parts: list[str] = []
    for result in results:
        parts += _release(result)
    return parts


def _release(result: ReleaseResult) -> list[str]:
    commit = f" (`{result.commit[:12]}`)" if result.commit else ""
    parts = [f"#### `{cell(result.version)}`{commit}: {verdict_mark(result.verdict)} {result.verdict.value}", ""]
    if result.patched is not None or result.baseline is not None:
        parts += _case_table(result) + [""]
    parts += _upstream_tests(result)
    parts += _lint(result)
    if result.extra.get("reproduce"):
        command, mirror = _portable(str(result.extra["reproduce"]))
        parts += ["Reproduce:", "", "```sh", "pip install argo-patcher", command, "```", ""]
        if mirror:
            parts += ["(Proved here on a local mirror; add `--repo PATH` to use one of yours.)", ""]
    return parts


def _portable(command: str) -> tuple[str, bool]:
    """The command without a ``--repo`` that names a path on the machine that ran it, which means
    nothing to a reviewer; a URL stays. Returns it and whether a path was dropped."""
    args = shlex.split(command)
    if len(args) > 2 and args[1] == "--repo" and not mirrors.is_url(args[2]):
        return shlex.join(args[:1] + args[3:]), True
    return command, False


def _what_was_wrong(result: ReleaseResult) -> list[str]:
    name = f"`{cell(result.version)}`"
    if result.verdict is Verdict.ALREADY_CORRECT:
        return [f"{name} already carries the fix: every case passes unpatched, there is nothing to change.", ""]
    if result.baseline is None:
        return [f"{name}: no unpatched run was made (`--no-baseline`), so what fails before the change is not shown here.", ""]
    failing = cells.failed_cases(result.baseline)
    if not failing:
        return []
    lines = [f"Unpatched, the controller fails {len(failing)} of the {len(CASE_IDS)} cases of the precedence contract on {name}:", ""]
    return lines + [f"- `{case}`: {CASE_DESCRIPTIONS[case]}" for case in failing] + [""]


def _case_table(result: ReleaseResult) -> list[str]:
    further = cells.case_levels([result])
    rows = ["| Case | Before | After |" + "".join(f" {level.subject} before | {level.subject} after |" for level in further),
            "|---|---|---|" + "---|---|" * len(further)]  # fmt: skip
    for case in CASE_IDS:
        row = f"| `{case}` | {_mark(result.baseline, case)} | {_mark(result.patched, case)} |"
        for level in further:
            row += f" {_mark(cells.proof_run(result.baseline, level.name), case)} | {_mark(cells.proof_run(result.patched, level.name), case)} |"
        rows.append(row)
    if cells.has_upstream_test([result]):
        rows.append(f"| the regression test | {_upstream(result.baseline)} | {_upstream(result.patched)} |" + " | |" * len(further))
    rows += ["", "Before/After: Argo's own test controller (Go unit tests), argo-patcher's precedence harness and the regression test above."
             + "".join(f" {level.subject}: {level.described}." for level in further)]  # fmt: skip
    return rows


def _lint(result: ReleaseResult) -> list[str]:
    lines = []
    for level in cells.findings_levels([result]):
        before, after = cells.proof_run(result.baseline, level.name), cells.proof_run(result.patched, level.name)
        assert after is not None
        problem = cells.run_problem(after) or (cells.run_problem(before) if before is not None else "")
        if problem:
            lines.append(f"{level.subject}: did not run to the end ({cell(problem)}), so this change is not shown clean under upstream's linters.")
            continue
        new = cells.lint_new(result, level.name)
        there = f"; {len(before.findings)} finding{'s' * (len(before.findings) != 1)} there before it, unchanged" if before and before.findings else ""
        lines.append(f"{level.subject} ({cell(after.tool)}): " + (f"{len(new)} new finding{'s' * (len(new) != 1)}" if new else "nothing new") + there + ".")
        lines += [f"- `{cell(f.describe())}`" for f in new]
    return [*lines, ""] if lines else []


def _mark(run: RunResult | None, case: str) -> str:
    return EMOJI[run.cases[case]] if run is not None else NOT_RUN


def _upstream(run: RunResult | None) -> str:
    status = run.upstream_status if run is not None else None
    return EMOJI[status] if status is not None else NOT_RUN


def _upstream_tests(result: ReleaseResult) -> list[str]:
    run = result.patched
    if run is None:
        return []
    problem = cells.run_problem(run)
    if problem:
        return [f"The patched tree did not get as far as its tests: {cell(problem)}", ""]
    others = run.other_tests
    passed = sorted(name for name, test in others.items() if test.status.passed)
    lines = [f"Argo's own tests run with the change ({len(others)}, besides the precedence harness and the regression test): "
             f"{len(passed)} pass" + (f", {len(result.regressions)} fail" if result.regressions else "") + "."]
    if result.regressions:
        lines.append("Failing after the change only: " + ", ".join(f"`{cell(n)}`" for n in result.regressions) + ".")
    if result.pre_existing:
        lines.append("Failing before and after it (pre-existing, unrelated): " + ", ".join(f"`{cell(n)}`" for n in result.pre_existing) + ".")
    if result.flaky:
        lines.append("Flaky (passed on a rerun): " + ", ".join(f"`{cell(n)}`" for n in result.flaky) + ".")
    shown = [name for name in passed if "/" not in name][:20]
    if shown:
        more = len([n for n in passed if "/" not in n]) - len(shown)
        lines.append("Passing: " + ", ".join(f"`{cell(n)}`" for n in shown) + (f" and {more} more." if more > 0 else "."))
    return [*lines, ""]
