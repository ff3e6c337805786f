"""One release, end to end: check out, patch, add the harness, run the baseline and the patch.

The baseline (unpatched) and patched trees are two worktrees of one commit, so the patched run
recompiles only the packages the patch touches. When earlier runs left the release's builds in
the Go cache, the two runs go side by side (see ``warmth``); otherwise the baseline goes first
and compiles what the patched run then reuses. A release-specific failure (an unrecognised code
shape, a build error, a timeout, a failing runner) becomes that release's result; only
run-wide problems raise.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

from patcher import gomod, harness, patch, runners, warmth
from patcher.checkout import Checkout, Workspace
from patcher.contract import HARNESS_TEST
from patcher.errors import InputError, PatcherError
from patcher.results import ReleaseResult, RunResult, RunStatus
from patcher.runners import RunInterrupted
from patcher.session import Session
from patcher.versions import Release

HARNESS_PACKAGE = "./workflow/controller/"
SUITES: dict[str, str | None] = {
    "precedence": f"^{HARNESS_TEST}$",
    "regression": rf"^({HARNESS_TEST}|Test.*(PodMetadata|Metadata|TemplateRef).*)$",
    "full": None,
}
SUITES_HELP = (
    "precedence: the harness only; regression: the harness and the upstream tests of the patched "
    "packages whose names mention PodMetadata, Metadata or TemplateRef; full: every test of the "
    "patched packages."
)
STAGES = ("checkout", "patch", "baseline", "patched", "done")

StageCallback = Callable[[Release, str], None]


@dataclasses.dataclass(frozen=True)
class ProveOptions:
    suite: str = "regression"
    baseline: bool = True
    runner: str = "auto"
    image: str = "auto"
    offline: bool = False
    timeout_s: float = runners.DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise InputError(f"--suite {self.suite}: expected one of {', '.join(SUITES)}")


def prove_release(
    session: Session,
    workspace: Workspace,
    release: Release,
    options: ProveOptions,
    on_stage: StageCallback = lambda release, stage: None,
    *,
    into: Path | None = None,
) -> ReleaseResult:
    """Prove the patch on ``release``: the baseline (unpatched, with the harness), then patched."""
    result = ReleaseResult(version=release.tag)
    began = time.monotonic()
    try:
        on_stage(release, "checkout")
        checkout = workspace.checkout(release, into=into)
        baseline = workspace.checkout(release, name=f"{release.tag}-baseline") if options.baseline else None
        result.commit, result.tree = checkout.commit, checkout.path
        result.go = str(gomod.read(checkout.path).go)
        on_stage(release, "patch")
        try:
            plan = patch.plan(checkout.path)
            test = harness.render_for(checkout.path)
            for tree in filter(None, (checkout, baseline)):
                harness.write(tree.path, test)
        except InputError as exc:
            result.patch_error, result.message = True, str(exc)
            return result
        plan.apply()
        result.extra["shape"] = plan.shape_name
        runner = runners.prepare(
            checkout.path, runner=options.runner, image=options.image, offline=options.offline, context=release.tag
        )
        result.extra["runner"] = runner.describe()
        packages = sorted({HARNESS_PACKAGE, *plan.packages})

        def run(tree: Checkout, which: str) -> RunResult:
            return _run(runner, tree, packages, options, which)

        side_by_side = baseline is not None and warmth.is_warm(runner.cache_identity(), checkout.commit)
        result.extra["schedule"] = "side by side" if side_by_side else "one after the other"
        if side_by_side:
            on_stage(release, "baseline")
            on_stage(release, "patched")
            result.baseline, result.patched = _side_by_side(lambda: run(baseline, "baseline"), lambda: run(checkout, "patched"))
        else:
            if baseline is not None:
                on_stage(release, "baseline")
                result.baseline = run(baseline, "baseline")
            on_stage(release, "patched")
            result.patched = run(checkout, "patched")
        if all(r.status is RunStatus.OK for r in (result.baseline, result.patched) if r is not None):
            warmth.remember(runner.cache_identity(), checkout.commit)
    except RunInterrupted:
        raise
    except PatcherError as exc:
        result.message = str(exc)
    finally:
        result.extra["elapsed_s"] = round(time.monotonic() - began, 3)
        on_stage(release, "done")
    return result


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
    major, minor = checkout.release.line
    run = runner.run(
        checkout.path,
        packages,
        SUITES[options.suite],
        timeout_s=options.timeout_s,
        run_id=f"{checkout.release.tag}-{which}-{os.getpid()}",
        binary_slot=f"v{major}.{minor}-{which}",
    )
    if not run.duration_s:
        run.duration_s = time.monotonic() - started
    return run


def summary(result: ReleaseResult) -> str:
    """One line for the end of a run (nox style): the release, its verdict, why."""
    why = result.message or _counts(result.patched)
    return f"{result.version}: {result.verdict.value}" + (f" ({why})" if why else "")


def _counts(run: RunResult | None) -> str:
    if run is None or run.status is not RunStatus.OK:
        return run.message if run else ""
    failed = sum(1 for status in run.cases.values() if status.value != "pass")
    return f"{len(run.cases) - failed}/{len(run.cases)} cases pass, {len(run.failures)} failing test(s)"
