"""One release end to end: checkout, patch, baseline run, patched run, hand-over.

``prepare`` is what every command shares (``diff`` stops there): a clean tree of the release and
the patch planned for its code. ``prove_release`` goes on: it applies the patch, runs the tests on
the unpatched tree (the baseline) and on the patched one, and hands the patched tree over when
asked to (kept, committed to a branch). A release's own failures end in its ``ReleaseResult``
with their kind (``ErrorKind``); only an interruption and a run-wide error (``run_wide``: no
Docker daemon) leave as exceptions, since they are the whole run's.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from patcher import cluster, runners, ui
from patcher.delivery import handover
from patcher.errors import PatcherError
from patcher.gocaches import buildmarks, cachewatch, gocache, resultcache
from patcher.harness import fixture
from patcher.options import DeliverOptions, ProveOptions, RunOptions
from patcher.patching import gomod, patch
from patcher.run.results import ErrorKind, ReleaseResult
from patcher.runners import RunInterrupted, gotest
from patcher.runners.testresults import RunResult, RunStatus, Status
from patcher.session import Session
from patcher.source.checkout import Checkout, Workspace
from patcher.source.versions import Release

HARNESS_PACKAGE = "./workflow/controller/"

StageCallback = Callable[[Release, str], None]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A release's clean tree and the patch planned for it (nothing written yet)."""

    checkout: Checkout
    plan: patch.PatchPlan


def prepare(workspace: Workspace, release: Release, *, into: Path | None = None) -> Prepared:
    """Check ``release`` out (at ``into`` to keep it) and plan the patch for its code; raises
    ``InputError`` for a code shape it does not know and ``PatchError`` for a broken patch."""
    checkout = workspace.checkout(release, into=into)
    return Prepared(checkout, patch.plan(checkout.path))


def prove_release(
    session: Session,
    workspace: Workspace,
    release: Release,
    options: RunOptions,
    on_stage: StageCallback = lambda release, stage: None,
) -> ReleaseResult:
    """Patch ``release``, prove the patch unless told not to, and hand the tree over as asked."""
    result = ReleaseResult(version=release.name, extra={"ref": release.kind.value})
    began = time.monotonic()
    try:
        on_stage(release, "checkout")
        checkout = workspace.checkout(release, into=options.deliver.output)
        result.commit, result.tree = checkout.commit, checkout.path
        result.go = str(gomod.read(checkout.path).go)
        on_stage(release, "patch")
        plan = patch.plan(checkout.path)
        result.extra["shape"] = plan.shape_name
        if options.prove is not None:
            _prove(workspace, release, checkout, plan, options.prove, result, on_stage)
        else:
            plan.apply()
            _say_patched(release, plan, handed_over=options.deliver.any)
        if options.deliver.any and result.error is None:
            on_stage(release, "deliver")
            _deliver(session, release, checkout, options.deliver, proven=result.ok, already_patched=plan.already_patched)
    except RunInterrupted:
        raise
    except PatcherError as exc:
        if exc.run_wide:
            raise
        result.error, result.message = ErrorKind.of(exc.exit_code), str(exc)
    finally:
        result.extra["elapsed_s"] = round(time.monotonic() - began, 3)
        on_stage(release, "done")
    return result


def _prove(
    workspace: Workspace,
    release: Release,
    checkout: Checkout,
    plan: patch.PatchPlan,
    options: ProveOptions,
    result: ReleaseResult,
    on_stage: StageCallback,
) -> None:
    test = fixture.render_for(checkout.path)
    runner = runners.prepare(checkout.path, runner=options.runner, image=options.image, offline=options.offline, context=release.name)
    result.extra["runner"] = runner.describe()
    packages = sorted({HARNESS_PACKAGE, *plan.packages})
    keys = _result_keys(checkout.commit, plan, test, packages, options, runner)
    cached = {which: resultcache.load(key) for which, key in keys.items()} if not options.fresh else {}
    baseline = None
    if options.baseline and cached.get("baseline") is None:
        baseline = workspace.checkout(release, name=f"{release.name}-baseline")
    for tree in filter(None, (checkout, baseline)):
        fixture.write(tree.path, test)
    plan.apply()

    def run(tree: Checkout, which: str) -> RunResult:
        fresh = _run(runner, tree, packages, options, which)
        resultcache.store(keys[which], fresh)
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
        if options.cluster:
            on_stage(release, "cluster")
            if options.baseline and baseline is None:  # its Go tests were replayed: its controller still has to be built
                baseline = workspace.checkout(release, name=f"{release.name}-baseline")
            _prove_on_a_cluster(release, checkout, baseline, runner, options, result)
    if options.cache_limit and (ran or options.cluster):
        _trim_caches(runner, options.cache_limit, release)


def _prove_on_a_cluster(
    release: Release, checkout: Checkout, baseline: Checkout | None, runner: runners.Runner, options: ProveOptions, result: ReleaseResult
) -> None:
    """The release's own workflow-controller, built from each tree, against a real API server;
    each controller's cases go with its tree's run."""
    mode = "container" if runner.kind == "docker" else "local"
    proof = cluster.prove_release(
        baseline.path if baseline is not None else None, checkout.path, runner=runner, release_tag=release.name,
        timeout_s=options.timeout_s, mode=mode,
    )  # fmt: skip
    assert result.patched is not None  # the Go runs came first
    result.patched.cluster = proof.patched
    if result.baseline is not None:
        result.baseline.cluster = proof.baseline
    result.extra["cluster"] = {"mode": proof.mode, "seconds": {name: round(s, 1) for name, s in proof.timings.items()}}


def _result_keys(
    commit: str, plan: patch.PatchPlan, test: str, packages: list[str], options: ProveOptions, runner: runners.Runner
) -> dict[str, str]:
    """The result cache's key of each run: the baseline is the commit with the harness, the
    patched run that and the patch's files."""

    def key_of(files: dict[str, bytes]) -> str:
        return resultcache.key(
            commit=commit, files=files, harness=test, packages=packages, run_regex=options.run_regex,
            timeout_s=options.timeout_s, rerun_fails=options.rerun_fails, toolchain=runner.toolchain,
        )  # fmt: skip

    return {"baseline": key_of({}), "patched": key_of(plan.contents)}


def _trim_caches(runner: runners.Runner, limit: int, release: Release) -> None:
    """Keep the Go caches under the limit as a matrix goes; a failed trim costs disk, not a verdict."""
    try:
        report = runner.trim_cache(gocache.trim_target(limit))
    except PatcherError as exc:
        ui.warn(f"could not trim the Go caches after {release}: {exc}")
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
    run = runner.run(checkout.path, packages, options.run_regex, timeout_s=options.timeout_s, run_id=run_id, binary_slot=slot)
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


def _say_patched(release: Release, plan: patch.PatchPlan, *, handed_over: bool) -> None:
    """Which files changed, when a tree is handed over (else each release's summary line says it)."""
    say = ui.info if handed_over else ui.debug
    if plan.already_patched:
        say(f"{release} already carries the precedence fix; its tree is left as it is")
    else:
        say(f"patched {release} ({plan.shape_name}): {', '.join(plan.changed_files)}")


def _deliver(session: Session, release: Release, checkout: Checkout, options: DeliverOptions, *, proven: bool, already_patched: bool) -> None:
    """The patched tree as asked: kept with the harness only if asked for, and recorded on a
    branch only once its proof passed and when there is something to record."""
    if not options.with_harness:
        fixture.remove(checkout.path)
    elif not fixture.path(checkout.path).exists():
        fixture.write(checkout.path)
    if options.commit_to:
        if not proven:
            ui.warn(f"{release} did not pass its proof; branch {options.commit_to} was not created")
            return
        if already_patched and not options.with_harness:
            ui.info(f"{release} already carries the fix: nothing to commit, branch {options.commit_to} was not created")
            return
        message = handover.commit_message(release, with_harness=options.with_harness)
        sha = handover.commit_to_branch(session, checkout.path, options.commit_to, message, signoff=options.signoff)
        ui.info(f"recorded the patched {release} as branch {options.commit_to} ({sha[:12]}) in {session.mirror.source.location}")


def patch_text(session: Session, release: Release, *, fmt: str, with_harness: bool, signoff: bool = False) -> str:
    """``patcher diff``: the patch for ``release`` as a diff or an mbox, from the same plan a
    proof applies; empty when the release already carries the fix (and no harness is asked for)."""
    with session.workspace() as workspace:
        prepared = prepare(workspace, release)
        tree = prepared.checkout.path
        if prepared.plan.already_patched:
            ui.info(f"{release} already carries the precedence fix; there is nothing to patch")
            if not with_harness:
                return ""
        prepared.plan.apply()
        if with_harness:
            fixture.write(tree)
        if fmt == "mbox":
            return handover.mbox(tree, handover.commit_message(release, with_harness=with_harness), signoff=signoff)
        return handover.diff(tree)
