"""One release end to end: checkout, patch, baseline run, patched run, more proofs, hand-over.

``prepare`` is what every command shares (``diff`` stops there): a clean tree of the release and
the patch planned for its code. ``prove_release`` goes on: it applies the patch, runs the tests on
the unpatched tree (the baseline) and on the patched one, runs the further proofs asked for (the
real controller against a real API server), and hands the patched tree over when asked to (kept,
committed to a branch). A release's own failures end in its ``ReleaseResult`` with their kind
(``ErrorKind``); only an interruption and a run-wide error (``run_wide``: no Docker daemon) leave
as exceptions, since they are the whole run's.

The further proofs and the hand-over belong to later stages (``patcher.cluster``,
``patcher.delivery``), which this one may not import: they come in as a ``LaterStages``, which the
CLI wires, each behind the small protocol below that says what the pipeline asks of it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from patcher import runners, ui
from patcher.errors import PatcherError, internal_error_line, no_space_line
from patcher.gocaches import buildmarks, cachewatch, gocache, resultcache
from patcher.harness import fixture, upstream
from patcher.harness.contract import SUITE_PATTERNS
from patcher.options import DeliverOptions, ProveOptions, ReportOptions, RunOptions
from patcher.patching import patch
from patcher.patching.gotree import GoTree
from patcher.run.results import ErrorKind, ReleaseResult
from patcher.runners import RunInterrupted, gofmt, gotest
from patcher.runners.testresults import RunResult, RunStatus, Status
from patcher.session import Session
from patcher.source.checkout import Checkout, Workspace
from patcher.source.versions import Release

HARNESS_PACKAGE = "./workflow/controller/"
PR_TEMPLATE = ".github/pull_request_template.md"

StageCallback = Callable[[Release, str], None]


@dataclasses.dataclass
class ProofRuns:
    """What a further proof found in each tree, as runs whose tests are the contract's cases."""

    baseline: RunResult | None
    patched: RunResult
    details: dict[str, Any] = dataclasses.field(default_factory=dict)  # where it ran, its timings: in the report as is


class Proof(Protocol):
    """A proof of a release's trees beyond their Go tests (``patcher.cluster``: the real controller)."""

    name: str  # its key in every report ("cluster")

    def preflight(self, runner_kind: str) -> None:
        """What the proof needs before any release starts; raises the run's one (run-wide) error."""

    def prove(
        self, release: Release, baseline: Path | None, patched: Path, *, runner: runners.Runner, timeout_s: float, packages: Sequence[str]
    ) -> ProofRuns:
        """Prove ``patched`` (and ``baseline``, when there is one) with the runner's Go and caches;
        ``packages`` are those the change touches (``./dir/``)."""


class HandOver(Protocol):
    """Where a proven tree goes (``patcher.delivery.handover``): kept, committed to a branch."""

    def check(self, session: Session, options: DeliverOptions, releases: Sequence[Release]) -> None:
        """What the hand-over needs before any release starts (a new branch, a git identity)."""

    def hand_over(
        self, session: Session, release: Release, tree: Path, options: DeliverOptions, *, proven: bool, already_patched: bool
    ) -> dict[str, Any]:
        """Hand ``tree``, patched, over as ``options`` ask, once its proof is known; what was made
        (a commit's title and id, its branch, whether it is signed off) goes into the report."""


Report = Callable[[Sequence[ReleaseResult], ReportOptions, str], None]


def _no_report(results: Sequence[ReleaseResult], files: ReportOptions, spec: str) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class LaterStages:
    """What a run hands to the stages after this one: its further proofs, its hand-over, its reports."""

    proofs: Sequence[Proof] = ()
    hand_over: HandOver | None = None
    report: Report = _no_report  # shows and writes the reports (``patcher.reports.present``)


NOTHING_LATER = LaterStages()  # the Go tests only, and nothing handed over or reported


@dataclasses.dataclass(frozen=True)
class Change:
    """What a release gets: the fix (the patch plan) and its upstream-style test (the release's
    own test files with the test added, ``harness.upstream``); nothing written yet."""

    plan: patch.PatchPlan
    test: dict[str, bytes]

    @property
    def files(self) -> dict[str, bytes]:
        return {**self.plan.contents, **self.test}

    @property
    def packages(self) -> list[str]:
        """The Go packages the change touches, as ``./dir/`` patterns for ``go test``."""
        return sorted({f"./{Path(path).parent.as_posix()}/" for path in self.files})

    def apply(self, *, with_test: bool = True) -> None:
        """Write the fix, and its test unless told not to (a tree already patched gets no test)."""
        self.plan.apply()
        if with_test and not self.plan.already_patched:
            self.write_test(self.plan.tree.root)

    def write_test(self, root: Path) -> None:
        """Write the upstream-style test into the tree at ``root`` (this change's, or its baseline)."""
        for relative, content in self.test.items():
            if root == self.plan.tree.root:
                self.plan.tree.write(relative, content)
            else:
                (root / relative).write_bytes(content)


def plan_change(tree: GoTree) -> Change:
    """The fix and its upstream-style test for ``tree``; ``InputError`` for a code shape argo-patcher
    does not know, ``PatchError`` for a broken patch."""
    check = gofmt.for_tree(tree.root, batch=True)  # in a container: one for all the files
    change = Change(patch.plan(tree, check), upstream.render_for(tree, check))
    gofmt.flush(check)
    return change


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A release's clean tree and the change planned for it (nothing written yet)."""

    checkout: Checkout
    change: Change

    @property
    def plan(self) -> patch.PatchPlan:
        return self.change.plan


def prepare(workspace: Workspace, release: Release, *, into: Path | None = None) -> Prepared:
    """Check ``release`` out (at ``into`` to keep it) and plan its change; raises ``InputError``
    for a code shape it does not know and ``PatchError`` for a broken patch."""
    checkout = workspace.checkout(release, into=into)
    return Prepared(checkout, plan_change(GoTree(checkout.path)))


def prove_release(
    session: Session,
    workspace: Workspace,
    release: Release,
    options: RunOptions,
    on_stage: StageCallback = lambda release, stage: None,
    later: LaterStages = NOTHING_LATER,
) -> ReleaseResult:
    """Patch ``release``, prove the patch unless told not to, and hand the tree over as asked."""
    result = ReleaseResult(version=release.name, extra={"ref": release.kind.value})
    if options.deliver.upstream_pr is not None:
        result.extra["upstream_pr"] = options.deliver.upstream_pr
    began = time.monotonic()
    try:
        on_stage(release, "checkout")
        checkout = workspace.checkout(release, into=options.deliver.output)
        result.commit, result.tree = checkout.commit, checkout.path
        tree = GoTree(checkout.path)
        result.go = str(tree.gomod.go)
        if (checkout.path / PR_TEMPLATE).is_file():  # the pull request's body follows it (reports.pr)
            result.extra["pr_template"] = (checkout.path / PR_TEMPLATE).read_text(encoding="utf-8", errors="replace")
        on_stage(release, "patch")
        change = plan_change(tree)
        plan = change.plan
        result.extra["shape"] = plan.shape_name
        if options.prove is not None:
            _prove(workspace, release, checkout, change, options.prove, result, on_stage, later.proofs)
        else:
            change.apply()
            _say_patched(release, change, handed_over=options.deliver.any)
        if options.deliver.any and result.error is None:
            if later.hand_over is None:
                raise AssertionError("a hand-over was asked for, and none was wired in")
            on_stage(release, "deliver")
            made = later.hand_over.hand_over(session, release, checkout.path, options.deliver, proven=result.ok, already_patched=plan.already_patched)
            if made:
                result.extra["handed_over"] = made
    except RunInterrupted:
        raise
    except PatcherError as exc:
        if exc.run_wide:
            raise
        full = no_space_line(exc)  # a full disk is the machinery's, whatever met it
        result.error, result.message = (ErrorKind.INFRA, full) if full else (ErrorKind.of(exc.exit_code), str(exc))
    except OSError as exc:
        full = no_space_line(exc)
        if full is None:
            raise
        result.error, result.message = ErrorKind.INFRA, full
    finally:
        result.extra["elapsed_s"] = round(time.monotonic() - began, 3)
        on_stage(release, "done")
    return result


def _prove(
    workspace: Workspace,
    release: Release,
    checkout: Checkout,
    change: Change,
    options: ProveOptions,
    result: ReleaseResult,
    on_stage: StageCallback,
    proofs: Sequence[Proof],
) -> None:
    test = fixture.render_for(change.plan.tree, gofmt.for_tree(checkout.path))
    runner = runners.prepare(checkout.path, runner=options.runner, image=options.image, offline=options.offline, context=release.name)
    result.extra["runner"] = runner.describe()
    packages = sorted({HARNESS_PACKAGE, *change.packages})
    keys = _result_keys(checkout.commit, change, test, packages, options, runner)
    cached = {which: _replayed(key) for which, key in keys.items()} if not options.fresh else {}
    baseline = None
    if options.baseline and cached.get("baseline") is None:
        baseline = workspace.checkout(release, name=f"{release.name}-baseline")
    for tree in filter(None, (checkout, baseline)):
        fixture.write(tree.path, test)
        change.write_test(tree.path)  # both trees run the upstream-style test: it shows what the fix fixes
    change.plan.apply()

    def run(tree: Checkout, which: str) -> RunResult:
        fresh = _run(runner, tree, packages, options, which)
        _keep(keys[which], fresh)
        return fresh

    result.baseline, result.patched = cached.get("baseline"), cached.get("patched")
    with cachewatch.kept_under(runner, options.cache_limit, release.name):
        side_by_side = baseline is not None and result.patched is None and buildmarks.is_warm(runner.cache_identity(), checkout.commit)
        result.extra["schedule"] = "side by side" if side_by_side else "one after the other"
        if baseline is not None and side_by_side:
            on_stage(release, "baseline")
            on_stage(release, "patched")
            unpatched = baseline
            result.baseline, result.patched = _side_by_side(lambda: run(unpatched, "baseline"), lambda: run(checkout, "patched"))
        else:
            if baseline is not None:
                on_stage(release, "baseline")
                result.baseline = run(baseline, "baseline")
            if result.patched is None:
                on_stage(release, "patched")
                result.patched = run(checkout, "patched")
        ran = [r for r in (result.baseline, result.patched) if r is not None and not r.cached]
        if ran and all(r.status is RunStatus.OK for r in ran):
            buildmarks.remember(runner.cache_identity(), checkout.commit)
        for proof in proofs:
            on_stage(release, proof.name)
            if options.baseline and baseline is None:  # its Go tests were replayed: the proof still needs its tree
                baseline = workspace.checkout(release, name=f"{release.name}-baseline")
            _prove_further(proof, release, checkout, baseline, runner, options, result, change.packages)
    if options.cache_limit and (ran or proofs):
        _trim_caches(runner, options.cache_limit, release)


def _prove_further(
    proof: Proof, release: Release, checkout: Checkout, baseline: Checkout | None, runner: runners.Runner, options: ProveOptions,
    result: ReleaseResult, packages: Sequence[str],
) -> None:  # fmt: skip
    """One further proof of each tree; its runs go with the tree's Go run, its details in the report."""
    found = proof.prove(
        release, baseline.path if baseline is not None else None, checkout.path, runner=runner, timeout_s=options.timeout_s, packages=packages
    )
    assert result.patched is not None  # the Go runs came first
    result.patched.proofs[proof.name] = found.patched
    if result.baseline is not None and found.baseline is not None:
        result.baseline.proofs[proof.name] = found.baseline
    result.extra[proof.name] = found.details


def _result_keys(commit: str, change: Change, test: str, packages: list[str], options: ProveOptions, runner: runners.Runner) -> dict[str, str]:
    """The result cache's key of each run: the baseline is the commit with the harness and the
    upstream-style test, the patched run that and the fix's files."""

    def key_of(files: dict[str, bytes]) -> str:
        return resultcache.key(
            commit=commit, files=files, harness=test, packages=packages, run_regex=SUITE_PATTERNS[options.suite],
            timeout_s=options.timeout_s, rerun_fails=options.rerun_fails, toolchain=runner.toolchain, flags=gotest.COMPILE_FLAGS,
        )  # fmt: skip

    return {"baseline": key_of(change.test), "patched": key_of(change.files)}


def _replayed(run_key: str) -> RunResult | None:
    """The kept result of the run ``run_key`` names, marked cached; None when there is none."""
    data = resultcache.load(run_key)
    if data is None:
        return None
    try:
        result = RunResult.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        resultcache.discard(resultcache.path_of(run_key), f"not a run's result ({type(exc).__name__}: {exc})")
        return None
    result.cached = True
    return result


def _keep(run_key: str, result: RunResult) -> None:
    """Keep ``result`` for the same run again, if it got as far as its tests."""
    if result.status is RunStatus.OK and not result.cached:
        try:
            resultcache.store(run_key, result.to_json())
        except OSError as exc:  # housekeeping: the run stands, only its replay is lost
            ui.warn(f"could not keep a run's result for replay: {no_space_line(exc, 'writing the result cache') or exc}")


def _trim_caches(runner: runners.Runner, limit: int, release: Release) -> None:
    """Keep the Go caches under the limit as a matrix goes; a failed trim costs disk, not a verdict."""
    try:
        report = runner.trim_cache(gocache.trim_target(limit))
    except PatcherError as exc:
        ui.warn(f"could not trim the Go caches after {release}: {no_space_line(exc) or exc}")
        return
    except Exception as exc:  # noqa: BLE001 - housekeeping never changes a verdict: the release's runs stand
        ui.warn(f"could not trim the Go caches after {release}: {internal_error_line(exc, f'trim-{release}')}")
        return
    cachewatch.record(report)
    ui.debug(f"[{release}] {report.describe()}")
    if report.total > limit:
        ui.warn(f"the Go caches take {report.describe()}: raise --cache-limit, or prove fewer releases at once")


def _side_by_side(first: Callable[[], RunResult], second: Callable[[], RunResult]) -> tuple[RunResult, RunResult]:
    """Both runs at once: ``first`` in a thread of its own, ``second`` in this one."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="baseline") as pool:
        future = pool.submit(first)
        try:
            second_result = second()
        except KeyboardInterrupt:
            runners.abort_all()  # or the pool would wait for the other run to end by itself
            raise
        return future.result(), second_result


def _run(runner: runners.Runner, checkout: Checkout, packages: list[str], options: ProveOptions, which: str) -> RunResult:
    started = time.monotonic()
    line = checkout.release.line
    slot = f"v{line[0]}.{line[1]}-{which}" if line else f"{checkout.release.name}-{which}"
    run_id = f"{checkout.release.name}-{which}-{os.getpid()}"
    run = runner.run(checkout.path, packages, SUITE_PATTERNS[options.suite], timeout_s=options.timeout_s, run_id=run_id, binary_slot=slot)
    for attempt in range(1, options.rerun_fails + 1):
        again = _rerun_plan(run)
        if again is None:
            break
        rerun_packages, regex = again
        ui.debug(f"[{checkout.release.name} {which}] rerun {attempt} of {options.rerun_fails}: {regex} in {', '.join(rerun_packages)}")
        rerun = runner.run(checkout.path, rerun_packages, regex, timeout_s=options.timeout_s, run_id=f"{run_id}-rerun{attempt}", binary_slot=slot)
        _merge_rerun(run, rerun)
    run.duration_s = time.monotonic() - started
    return run


def _rerun_plan(run: RunResult) -> tuple[list[str], str] | None:
    """The packages and ``-run`` pattern that run again the top-level tests that failed, or None.

    Like gotestsum's ``--rerun-fails``, only a run that got as far as its tests is rerun, and a
    failed subtest reruns its top-level test."""
    if run.status is not RunStatus.OK:
        return None
    # A package that failed as a whole (a panic in init, "<package> [package]") has no test to rerun.
    failed = [test for test in run.tests.values() if test.status.failed and test.package and not test.name.endswith(gotest.PACKAGE_TEST_SUFFIX)]
    if not failed:
        return None
    roots = sorted({_top_level(test.name) for test in failed})
    packages = sorted({test.package for test in failed})
    return packages, "^(" + "|".join(re.escape(root) for root in roots) + ")$"


def _top_level(name: str) -> str:
    return name.split(" [", 1)[0].split("/", 1)[0]


def _merge_rerun(run: RunResult, rerun: RunResult) -> None:
    """Tests that failed and now passed become flaky; those that failed again stay failed."""
    if rerun.status is not RunStatus.OK:
        return
    for name, test in run.tests.items():
        again = rerun.tests.get(name)
        if test.status.failed and again is not None and again.status is Status.PASS:
            run.tests[name] = dataclasses.replace(test, status=Status.FLAKY)


def _say_patched(release: Release, change: Change, *, handed_over: bool) -> None:
    """Which files changed, when a tree is handed over (else each release's summary line says it)."""
    say = ui.info if handed_over else ui.debug
    if change.plan.already_patched:
        say(f"{release} already carries the precedence fix; its tree is left as it is")
    else:
        say(f"patched {release} ({change.plan.shape_name}): {', '.join(sorted(change.files))}")
