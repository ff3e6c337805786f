"""The report on a terminal: the before→after table, the failures' details, a closing summary."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from patcher.harness.contract import CASE_IDS
from patcher.reports import cells
from patcher.run.progress import VERDICT_STYLES, elapsed
from patcher.run.results import ReleaseResult
from patcher.runners.testresults import FINDINGS, PROOF_LEVELS, ProofLevel, RunResult, Status

REGRESSION_HEADER = "reg"
UPSTREAM_HEADER = "ust"


def verdict_text(result: ReleaseResult) -> Text:
    return Text(result.verdict.value, style=VERDICT_STYLES[result.verdict])


def _cell(text: str) -> Text:
    after = text.rsplit("→", 1)[-1]
    style = "green" if after.startswith("✓") else "red" if after[:1] in ("✗", "!") else "dim"
    return Text(text, style=style)


def wide_table(results: list[ReleaseResult], proof: str = cells.GO) -> Table:
    """A row per release, a column per case (headed by its initials), then the regression tests
    and each further proof's cases (--cluster: the real controller's) before→after; or, for a
    further proof, its cases alone."""
    short = cells.abbreviations()
    table = Table(box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    table.add_column("release", no_wrap=True)
    for case in CASE_IDS:
        table.add_column(short[case], justify="center", no_wrap=True)
    go = proof == cells.GO
    further = cells.proof_levels(results) if go else []
    upstream = go and cells.has_upstream_test(results)
    if go:
        table.add_column(REGRESSION_HEADER, justify="center", no_wrap=True)
    if upstream:
        table.add_column(UPSTREAM_HEADER, justify="center", no_wrap=True)
    for level in further:
        table.add_column(level.column, justify="center", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for result in results:
        row = [_cell(cells.case_cell(result, case, proof)) for case in CASE_IDS]
        row += [_cell(cells.regression_cell(result))] if go else []
        row += [_cell(cells.upstream_cell(result))] if upstream else []
        row += [_cell(cells.proof_cell(result, level.name)) for level in further]
        table.add_row(result.version, *row, verdict_text(result))
    return table


def tall_table(results: list[ReleaseResult], proof: str = cells.GO) -> Table:
    """The same, transposed (a row per case, a column per release) for narrow terminals."""
    table = Table(box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    table.add_column("case", no_wrap=True)
    for result in results:
        table.add_column(result.version, justify="center", no_wrap=True)
    for case in CASE_IDS:
        table.add_row(case, *(_cell(cells.case_cell(r, case, proof)) for r in results))
    if proof == cells.GO:
        table.add_row("regression tests", *(_cell(cells.regression_cell(r)) for r in results))
        if cells.has_upstream_test(results):
            table.add_row("upstream-style test", *(_cell(cells.upstream_cell(r)) for r in results))
        for level in cells.proof_levels(results):
            table.add_row(level.heading.lower(), *(_cell(cells.proof_cell(r, level.name)) for r in results))
    table.add_row("verdict", *(verdict_text(r) for r in results))
    return table


def findings_table(results: list[ReleaseResult], level: ProofLevel) -> Table:
    """A row per release: what ran, the baseline's findings, the patched tree's new ones."""
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
    for column in ("release", "tool", "before", "new after"):
        table.add_column(column, no_wrap=column != "tool")
    for result in results:
        before, after = cells.proof_run(result.baseline, level.name), cells.proof_run(result.patched, level.name)
        if after is None:
            continue
        tool = after.tool or cells.run_problem(after)
        table.add_row(result.version, tool, cells.findings_symbol(before), _cell(cells.new_findings_symbol(before, after)))
    return table


def legend(wide: bool, *, further: Sequence[ProofLevel] = (), upstream: bool = False) -> Text:
    text = Text(cells.LEGEND, style="dim")
    if wide:
        pairs = "  ".join(f"{short}={case}" for case, short in cells.abbreviations().items())
        text.append(f"\n{pairs}  {REGRESSION_HEADER}=upstream regression tests (✗n: n failed)", style="dim")
        if upstream:
            text.append(f"  {UPSTREAM_HEADER}=the upstream-style test of the fix, in the release's own test files", style="dim")
        for level in further:
            text.append(f"  {level.column}=the cases {level.where} (✗n: n failed)", style="dim")
    return text


def _width(console: Console, table: Table) -> int:
    unbounded = console.options.update(width=10_000, max_width=10_000)
    return Measurement.get(console, unbounded, table).maximum


def results_tables(results: list[ReleaseResult], console: Console, proof: str = "go") -> tuple[list[Table], bool]:
    """The wide table when it fits the console, else tall ones with as many releases each as fit;
    and whether it is the wide one."""
    table = wide_table(results, proof)
    if _width(console, table) <= console.width:
        return [table], True
    chunks: list[list[ReleaseResult]] = []
    for result in results:
        if chunks and _width(console, tall_table(chunks[-1] + [result], proof)) <= console.width:
            chunks[-1].append(result)
        else:
            chunks.append([result])
    return [tall_table(chunk, proof) for chunk in chunks], False


def regression_failures(results: list[ReleaseResult]) -> RenderableType | None:
    """The upstream tests that failed, run by run; after the patch, those that failed before it
    too are marked pre-existing (they do not count against the verdict). Then the flaky ones."""
    lines = []
    for result in results:
        pre_existing = set(result.pre_existing)
        for run_name, run in (("baseline", result.baseline), ("patched", result.patched)):
            failed = cells.failed_regression_tests(run)
            if failed:
                names = [t.name + (" (pre-existing)" if run_name == "patched" and t.name in pre_existing else "") for t in failed]
                lines.append(Text.assemble((f"{result.version} {run_name}: ", "bold"), ", ".join(names)))
        if result.flaky:
            lines.append(Text.assemble((f"{result.version} flaky: ", "bold"), ", ".join(result.flaky), (" (passed on a rerun)", "dim")))
    if not lines:
        return None
    return Group(Text("Upstream tests that failed", style="bold underline"), *lines)


def _run_details(result: ReleaseResult, run_name: str, run: RunResult | None, with_output: bool) -> list[RenderableType]:
    parts: list[RenderableType] = []
    problem = cells.run_problem(run)
    if problem:
        parts.append(Text(f"  {run_name} run: {problem}", style="red"))
        if run is not None and "\n" in run.message.strip():
            parts.append(Text(_indent(cells.excerpt(run.message), 4), style="dim"))
        return parts
    for test in cells.failed_tests(run):
        outcome = "failed" if test.status is Status.FAIL else "error"
        parts.append(Text(f"  {run_name}: {test.name} {outcome}"))
        if with_output and test.output:
            parts.append(Text(_indent(cells.excerpt(test.output), 4), style="dim"))
    return parts


def details(results: list[ReleaseResult], *, baseline_output: bool = False) -> RenderableType | None:
    """For each release that did not pass: why, which tests failed and the end of their output.

    The baseline's failures are listed by name only (they are the expected 'before'), unless
    ``baseline_output`` asks for their output too.
    """
    blocks: list[RenderableType] = []
    for result in results:
        if result.ok:
            continue
        block: list[RenderableType] = [Text.assemble((result.version, "bold"), " ", verdict_text(result))]
        if result.message:
            block.append(Text(_indent(result.message, 2)))
        block += _run_details(result, "patched", result.patched, with_output=True)
        block += _run_details(result, "baseline", result.baseline, with_output=baseline_output)
        for level in PROOF_LEVELS:
            block += _run_details(result, f"patched {level.where}", cells.proof_run(result.patched, level.name), with_output=True)
            block += _run_details(result, f"baseline {level.where}", cells.proof_run(result.baseline, level.name), with_output=baseline_output)
            if level.kind == FINDINGS and cells.lint_new(result, level.name):
                block.append(Text(f"  new {level.where}:", style="bold"))
                block += [Text(f"    {finding.describe()}") for finding in cells.lint_new(result, level.name)]
        blocks.append(Group(*block))
    if not blocks:
        return None
    return Group(Text("Failures", style="bold underline"), *blocks)


def print_report(results: list[ReleaseResult], console: Console, *, baseline_output: bool = False) -> None:
    if not results:
        console.print("no releases")
        return
    tables, wide = results_tables(results, console)
    for n, table in enumerate(tables):
        if n:
            console.print()
        console.print(table)
    further = cells.proof_levels(results)
    console.print(legend(wide, further=further, upstream=cells.has_upstream_test(results)))
    for level in cells.case_levels(results):
        console.print()
        console.print(Text(f"{level.title}, per case", style="bold underline"))
        for table in results_tables(results, console, level.name)[0]:
            console.print(table)
    for level in cells.findings_levels(results):
        console.print()
        console.print(Text(level.title, style="bold underline"))
        console.print(findings_table(results, level))
    for section in (regression_failures(results), details(results, baseline_output=baseline_output)):
        if section is not None:
            console.print()
            console.print(section)


def summary_lines(results: list[ReleaseResult]) -> list[Text]:
    """One line per release, as a run ends: ``* v3.5.5: fixed in 3:02 (cases passing 3/15 before, 15/15 after)``."""
    width = max((len(r.version) for r in results), default=0)
    lines = []
    for result in results:
        mark = ("✓ ", "green") if result.ok else ("✗ ", "red")
        lines.append(
            Text.assemble(
                mark,
                (result.version.ljust(width), "bold"),
                "  ",
                verdict_text(result),
                f" in {elapsed(cells.release_seconds(result))}",
                (f"  {cells.reason(result)}", "dim"),
            )
        )
    lines.append(Text(cells.headline(results), style="bold"))
    return lines


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())
