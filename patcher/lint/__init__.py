"""Stage 7, lint: upstream's linters as a proof level (``--lint``).

Upstream's CI runs ``make lint``: the golangci-lint its Makefile pins, with its ``.golangci.yml``
and build tags. ``LintProof`` does the same over the packages the change touches, on the baseline
and on the patched tree, and ``go vet`` over them too (argo-patcher's test runs skip vet), with
the runner's caches and no network: the linter and the Go it runs with are mounted into the test
container, or run with the local Go. A finding the patched tree has and the baseline lacks fails
the release; findings that were there already are reported and not counted; a linter that cannot
be built or run here is that release's infra-error, never a pass. Owns the ref's pin (``pins``),
the linters built once per version (``tools``) and reading their reports (``findings``). Imports
the top of ``patcher`` and the earlier stages; the CLI wires it into the run.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Sequence
from pathlib import Path

from patcher.errors import InfraError, PatcherError
from patcher.lint import findings, pins, tools
from patcher.patching import gomod
from patcher.run.pipeline import ProofRuns
from patcher.runners import hostgo
from patcher.runners.base import Runner, ToolRun
from patcher.runners.testresults import Finding, RunResult, RunStatus
from patcher.source.versions import Release

NAME = "lint"


class LintUnavailable(InfraError):
    """No Go to build the linters with: every release of the run would fail the same way."""

    run_wide = True


class LintProof:
    """``--lint``: the ref's own golangci-lint and go vet, on both trees (``pipeline.Proof``)."""

    name = NAME

    def preflight(self, runner_kind: str) -> None:
        if hostgo.find() is None:
            raise LintUnavailable("--lint builds the golangci-lint each ref pins with a local Go, and there is no go on PATH; install Go (go.dev/dl)")

    def prove(
        self, release: Release, baseline: Path | None, patched: Path, *, runner: Runner, timeout_s: float, packages: Sequence[str] = ()
    ) -> ProofRuns:
        started = time.monotonic()
        try:
            pin = pins.read(patched)
            linter = tools.ensure(pin, gomod.read(patched).go)
        except PatcherError as exc:
            failed = RunResult(RunStatus.INFRA_ERROR, message=f"golangci-lint: {exc}")
            return ProofRuns(failed if baseline is not None else None, failed, {"seconds": {"total_s": round(time.monotonic() - started, 1)}})
        details: dict[str, object] = {"version": pin.version, "pinned_in": pin.pinned_in, "packages": list(packages),
                                      "build_tags": ",".join(pin.build_tags), "go": linter.go}  # fmt: skip
        seconds = {"linter_s": round(time.monotonic() - started, 1)}
        runs: dict[str, RunResult] = {}
        for role, tree in (("baseline", baseline), ("patched", patched)):
            if tree is None:
                continue
            began = time.monotonic()
            runs[role] = lint(runner, tree, pin, linter, packages, timeout_s=timeout_s, run_id=f"{release.name}-{role}-lint")
            if role == "baseline" and runs[role].status is RunStatus.INFRA_ERROR:
                runs[role].message += (f"; {pin.version} fails on the unpatched tree, so it cannot judge the change here"
                                       " (--no-lint proves the release without it)")
            seconds[f"{role}_s"] = round(time.monotonic() - began, 1)
        details["seconds"] = seconds
        return ProofRuns(runs.get("baseline"), runs["patched"], details)


def lint(runner: Runner, tree: Path, pin: pins.Pin, linter: tools.Linter, packages: Sequence[str], *, timeout_s: float, run_id: str) -> RunResult:
    """One tree's golangci-lint and go vet findings over ``packages``, as one run."""
    started = time.monotonic()
    tags = ",".join(pin.build_tags)
    tool = f"{linter.describe()}, go vet"
    # Its own deadline is the run's: cold, it compiles every dependency with its Go first.
    args = ["run", "--config", pin.config, "--timeout", f"{int(timeout_s)}s", "--max-issues-per-linter", "0", "--max-same-issues", "0",
            *pin.json_output(), *(["--build-tags", tags] if tags else []), *packages]  # fmt: skip
    found: list[Finding] = []
    for name, binary, arguments, cache_var, read in (
        ("golangci-lint", linter.binary, args, "GOLANGCI_LINT_CACHE", findings.golangci),
        ("go vet", linter.goroot / "bin" / "go", ["vet", "-json", *(["-tags", tags] if tags else []), *packages], None, findings.go_vet),
    ):
        tool_run = functools.partial(runner.run_tool, tree, binary, arguments, goroot=linter.goroot, timeout_s=timeout_s,
                                     run_id=f"{run_id}-{name.replace(' ', '-')}", cache_var=cache_var)  # fmt: skip
        ran = tool_run()
        if _lacks_modules(ran):  # the tests' runs that would have fetched them were replayed from the result cache
            try:
                runner.fetch_modules(tree, packages, timeout_s=max(1.0, timeout_s - (time.monotonic() - started)), run_id=f"{run_id}-fetch")
            except InfraError as exc:
                return RunResult(RunStatus.INFRA_ERROR, duration_s=time.monotonic() - started, message=f"{name}: {exc}", tool=tool)
            ran = tool_run()
        duration = time.monotonic() - started
        if ran.timed_out:
            return RunResult(RunStatus.TIMEOUT, duration_s=duration, message=f"{name} timed out after {timeout_s:g}s", tool=tool)
        output = ran.stdout if name == "golangci-lint" else ran.stdout + ran.stderr
        try:
            found += read(output, tree)
        except findings.Unreadable as exc:
            why = _last_lines(ran.stderr) or str(exc)
            return RunResult(RunStatus.INFRA_ERROR, duration_s=duration, message=f"{name} (exit code {ran.exit_code}): {why}", tool=tool)
        failed = ran.exit_code not in ((0, 1) if name == "golangci-lint" else (0,))  # golangci-lint exits 1 when it found something
        if failed and (name == "golangci-lint" or not found):
            message = f"{name} failed (exit code {ran.exit_code}): {_panic(ran.stderr) or _last_lines(ran.stderr)}"
            return RunResult(RunStatus.INFRA_ERROR, duration_s=duration, message=message, tool=tool)
    return RunResult(RunStatus.OK, duration_s=time.monotonic() - started, findings=found, tool=tool)


def _lacks_modules(ran: ToolRun) -> bool:
    """Whether a tool run without network failed for want of modules in the cache."""
    return "GOPROXY=off" in ran.stdout or "GOPROXY=off" in ran.stderr


_PANIC = re.compile(r"Panic: (.*)$", re.MULTILINE)


def _panic(text: str) -> str:
    """What a panicking linter said, without its stack (``level=error msg="[runner] Panic: …"``)."""
    found = _PANIC.search(text)
    if found is None:
        return ""
    said = re.split(r": goroutine \d+|\\n", found.group(1))[0].rstrip('"')
    return "it panicked: " + said.replace('\\"', '"')


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("level=info")]
    return " / ".join(lines[-count:])

