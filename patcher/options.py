"""What a run is asked to do, as typed values, and their checks before any release starts.

A run proves one or more releases (``ProveOptions``, absent with ``--no-test``), hands the
patched tree over (``DeliverOptions``, for one release) and writes reports (``ReportOptions``).
``RunOptions.check`` finds every problem of the options themselves at once, before any work:
a bad combination is the user's input error (exit 2), never something found per release.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from patcher.errors import InputError

DEFAULT_TIMEOUT_S = 30 * 60
RUNNERS = ("auto", "docker", "local")
SUITES = ("precedence", "regression", "full")  # which tests: patcher.harness.contract.SUITE_PATTERNS
SUITES_HELP = (
    "precedence: the harness only; regression: the harness and the upstream tests of the patched "
    "packages whose names mention PodMetadata, Metadata or TemplateRef; full: every test of the "
    "patched packages (a test failing before and after the patch is reported as pre-existing)."
)


@dataclasses.dataclass(frozen=True)
class ProveOptions:
    """How releases are proved: which tests, where they run, for how long."""

    suite: str = "regression"
    baseline: bool = True
    runner: str = "auto"
    image: str = "auto"
    offline: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    rerun_fails: int = 0
    cache_limit: int = 0  # bytes the Go caches may take, trimmed after each release (0: no limit)
    fresh: bool = False  # run again what an earlier run of the same inputs already ran
    cluster: bool = False  # also prove the controller binary against a real API server
    node: bool = False  # --cluster=node: also run the release's own Argo on a real node, its workflows as pods
    lint: bool = False  # also run the ref's own golangci-lint and go vet on the changed packages

    def check(self) -> None:
        if self.suite not in SUITES:
            raise InputError(f"--suite {self.suite}: expected one of {', '.join(SUITES)}")
        if self.runner not in RUNNERS:
            raise InputError(f"--runner {self.runner}: expected one of {', '.join(RUNNERS)}")
        if self.runner == "local" and self.image != "auto":
            raise InputError("--image needs the docker runner; drop --runner local or --image")
        if self.timeout_s <= 0:
            raise InputError(f"--timeout {self.timeout_s:g}: expected a number of seconds above 0")
        if self.rerun_fails < 0:
            raise InputError(f"--rerun-fails {self.rerun_fails}: expected 0 or more")
        if self.cache_limit < 0:
            raise InputError(f"--cache-limit {self.cache_limit}: expected a size, or 0 for no limit")

    def command_line(self) -> list[str]:
        """The options of ``patcher apply`` that say how this proof ran (where it ran aside)."""
        args = [] if self.suite == ProveOptions.suite else ["--suite", self.suite]
        if not self.baseline:
            args.append("--no-baseline")
        if self.timeout_s != DEFAULT_TIMEOUT_S:
            args += ["--timeout", f"{self.timeout_s:g}"]
        if self.rerun_fails:
            args += ["--rerun-fails", str(self.rerun_fails)]
        if self.fresh:
            args.append("--fresh")
        if self.node:
            args.append("--cluster=node")
        elif self.cluster:
            args.append("--cluster")
        if self.lint:
            args.append("--lint")
        return args


@dataclasses.dataclass(frozen=True)
class DeliverOptions:
    """Where the patched tree of a single release goes besides the proof."""

    output: Path | None = None
    keep: bool = False
    commit_to: str | None = None
    with_harness: bool = False
    signoff: bool = False
    upstream_pr: int | None = None  # the upstream pull request this change backports: "(cherry-pick #N for X.Y)"

    @property
    def keeps_tree(self) -> bool:
        return self.output is not None or self.keep

    @property
    def any(self) -> bool:
        return self.keeps_tree or self.commit_to is not None

    def check(self) -> None:
        if self.signoff and not self.commit_to:
            raise InputError("--signoff signs the commit that --commit-to makes; add --commit-to BRANCH")
        if self.upstream_pr is not None and self.upstream_pr <= 0:
            raise InputError(f"--upstream-pr {self.upstream_pr}: expected the number of an upstream pull request")
        if self.output is not None:
            output = self.output.expanduser()
            if output.exists() and not output.is_dir():
                raise InputError(f"--output {output} is a file; choose a new or empty directory")
            if output.is_dir() and any(output.iterdir()):
                raise InputError(f"--output {output} exists and is not empty; choose a new or empty directory")


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """The report files asked for (``-`` is standard output)."""

    json_path: Path | None = None
    junit_path: Path | None = None
    markdown_path: Path | None = None
    pr_path: Path | None = None

    @property
    def to_stdout(self) -> bool:
        return "-" in (str(self.json_path), str(self.junit_path), str(self.markdown_path), str(self.pr_path))


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Everything one run of ``apply`` or ``matrix`` is asked to do."""

    prove: ProveOptions | None = dataclasses.field(default_factory=ProveOptions)  # None: --no-test
    deliver: DeliverOptions = dataclasses.field(default_factory=DeliverOptions)
    reports: ReportOptions = dataclasses.field(default_factory=ReportOptions)

    def check(self) -> None:
        """Every problem of the options themselves, found before any release starts."""
        if self.prove is not None:
            self.prove.check()
        self.deliver.check()
