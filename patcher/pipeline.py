"""One release, end to end: check out, add the harness, run the baseline, patch, run again.

Both runs use one tree, so the patched run recompiles only the packages the patch touches.
A release-specific failure (an unrecognised code shape, a build error, a timeout, a failing
runner) becomes that release's result; only run-wide problems raise.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

from patcher import gomod, harness, patch, runners
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
    try:
        on_stage(release, "checkout")
        checkout = workspace.checkout(release, into=into)
        result.commit, result.tree = checkout.commit, checkout.path
        result.go = str(gomod.read(checkout.path).go)
        on_stage(release, "patch")
        try:
            plan = patch.plan(checkout.path)
            harness.write(checkout.path)
        except InputError as exc:
            result.patch_error, result.message = True, str(exc)
            return result
        result.extra["shape"] = plan.shape_name
        packages = sorted({HARNESS_PACKAGE, *plan.packages})
        runner = runners.prepare(
            checkout.path, runner=options.runner, image=options.image, offline=options.offline, context=release.tag
        )
        result.extra["runner"] = runner.describe()
        if options.baseline:
            on_stage(release, "baseline")
            result.baseline = _run(runner, checkout, packages, options, "baseline")
        plan.apply()
        on_stage(release, "patched")
        result.patched = _run(runner, checkout, packages, options, "patched")
    except RunInterrupted:
        raise
    except PatcherError as exc:
        result.message = str(exc)
    finally:
        on_stage(release, "done")
    return result


def _run(runner: runners.Runner, checkout: Checkout, packages: list[str], options: ProveOptions, which: str) -> RunResult:
    started = time.monotonic()
    run = runner.run(
        checkout.path,
        packages,
        SUITES[options.suite],
        timeout_s=options.timeout_s,
        run_id=f"{checkout.release.tag}-{which}-{os.getpid()}",
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
