"""The command line: options and help only; each command hands over to the module that owns it."""

from __future__ import annotations

import dataclasses
import inspect
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from patcher import __version__, cluster, lint, reports, runners, selfcode, settings, ui
from patcher.cluster.cli import cluster as cluster_commands
from patcher.delivery import handover
from patcher.errors import DockerUnavailable, ExitCode, InputError, PatcherError, internal_error_line, is_no_space, no_space_line
from patcher.gocaches import gocache
from patcher.options import DEFAULT_TIMEOUT_S, RUNNERS, SUITES, SUITES_HELP, DeliverOptions, ProveOptions, ReportOptions, RunOptions
from patcher.run import matrix, pipeline
from patcher.run.results import ErrorKind, ReleaseResult, exit_code
from patcher.runners import engine
from patcher.session import Session
from patcher.source.mirrors import UPSTREAM_URL
from patcher.source.versions import SPEC_HELP

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 a release failed on its merits (a case or test failing after the patch, a broken patch); "
    "2 usage or input error; 3 infrastructure error (git, Docker, the toolchain, a timeout); 130 interrupted."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=EXIT_CODES_HELP)
@click.option(
    "--repo",
    envvar="ARGO_WORKFLOWS_REPO",
    default=UPSTREAM_URL,
    show_default=True,
    metavar="URL|PATH",
    help="Argo Workflows repository: a URL, or a local bare or non-bare repository (read only). "
    "Also read from ARGO_WORKFLOWS_REPO.",
)
@click.option("-v", "--verbose", count=True, help="Say more (repeat for debug output and tracebacks).")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.version_option(__version__, prog_name="argo-patcher")
@click.pass_context
def cli(ctx: click.Context, repo: str, verbose: int, quiet: bool) -> None:
    """Backport the Argo Workflows podMetadata precedence fix (issue 12945) to any release,
    and prove it with Argo's own Go tests, release by release."""
    ui.configure(verbose=verbose, quiet=quiet)
    selfcode.snapshot()  # what this run executes and builds from is argo-patcher's code as it is now
    ctx.obj = Session(repo=repo)


pass_session = click.make_pass_decorator(Session)


def release_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--pre", is_flag=True, help="Let release candidates match.")(func)
    func = click.option("--refresh", is_flag=True, help="Fetch the repository's tags and branches even if the cache has what is asked for.")(func)
    func = click.option(
        "--branch-max-age", metavar="DURATION", callback=_remember_branch_max_age, expose_value=False,
        help="Fetch branch heads again when the cache's copy is older than this (30m, 1h, 0 = always). "
        "Default: ARGO_PATCHER_BRANCH_MAX_AGE, else 1h. A local --repo is always read fresh.",
    )(func)  # fmt: skip
    return func


def _remember_branch_max_age(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        settings.branch_max_age_s(value)  # a bad value is one line, exit 2
        ctx.ensure_object(Session).branch_max_age = value


@cli.command()
@click.argument("spec", default="supported")
@release_options
@pass_session
def versions(session: Session, spec: str, pre: bool, refresh: bool) -> None:
    """Print the releases SPEC resolves to, one a line, oldest first.

    SPEC defaults to 'supported'.
    """
    for release in session.resolve(spec, pre=pre, refresh=refresh):
        ui.out(release.name)


versions.help = f"{inspect.cleandoc(versions.help or '')}\n\n{SPEC_HELP}"


def exit_zero_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--exit-zero", is_flag=True,
        help="Exit 0 whatever the verdicts once the reports are written, a failure before any release ran "
        "included (written as the release's error): for a step whose report is judged later, as 'patcher "
        "report' does in an emitted Workflow. Usage errors still exit 2.",
    )(func)  # fmt: skip


def judged_later(version: str, exit_zero: bool, files: ReportOptions, proving: Callable[[], int]) -> int:
    """Run ``proving``; with --exit-zero, write even a failure before any release ran into the
    reports as ``version``'s error, and exit 0 (an interruption is never hidden)."""
    if not exit_zero:
        return proving()
    try:
        proving()
    except PatcherError as exc:
        if exc.exit_code is ExitCode.INTERRUPTED:
            raise
        ui.error(str(exc))
        reports.write([ReleaseResult(version, message=str(exc), error=ErrorKind.of(exc.exit_code))], files, spec=version)
    return ExitCode.OK


def report_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where to write reports (``-`` is stdout); Markdown is also appended to $GITHUB_STEP_SUMMARY."""
    path = click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path)
    func = click.option("--markdown", "markdown_path", type=path, metavar="FILE",
                        help="Write a Markdown report (a summary table and collapsible details) for a pull request; "
                        "it is also appended to the file GITHUB_STEP_SUMMARY names, when set.")(func)
    func = click.option("--junit", "junit_path", type=path, metavar="FILE",
                        help="Write JUnit XML: a test suite per release and run, a test case per case and test.")(func)
    func = click.option("--json", "json_path", type=path, metavar="FILE",
                        help='Write the JSON report: {"results": [{"version", "commit", "go", "verdict", "baseline", "patched"}]}.')(func)
    return func


def report_options_from(kwargs: dict[str, Any]) -> ReportOptions:
    """The ReportOptions that report_options' flags describe (popped from a command's kwargs)."""
    return ReportOptions(kwargs.pop("json_path"), kwargs.pop("junit_path"), kwargs.pop("markdown_path"))


REPORT_FORMATS_HELP = (
    "What to print: 'table' (the terminal table, the failures' details and a line per release), or the "
    "text of one format on stdout: 'json', 'junit', 'markdown', 'pr' (a pull request's body), 'releases' (the "
    "page saying which releases are affected, as docs/releases.md)."
)


@cli.command("report")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(reports.FORMATS), default="table", show_default=True, help=REPORT_FORMATS_HELP)
@click.option("--expect", metavar="VERSIONS", help="Comma list of the releases there must be a report of; one without is an infra-error.")
@report_options
def report_command(files: tuple[Path, ...], fmt: str, expect: str | None, **kwargs: Any) -> int:
    """Read JSON reports, merge them, and show or write them in any format; exit as 'patcher
    matrix' would for these releases.

    FILES are reports of 'patcher apply --json' or 'patcher matrix --json', or the list that an
    Argo Workflow gathers from its pods. A release in several files keeps its last report.
    """
    files_out = report_options_from(kwargs)
    expected = [v.strip() for v in expect.split(",") if v.strip()] if expect else None
    results = reports.load(list(files), expect=expected)
    if not results:
        raise InputError(f"{', '.join(map(str, files))}: no release results in these reports")
    if fmt == "table":
        reports.present(results, files_out)
    else:
        reports.write(results, files_out)
        ui.out(reports.render(fmt, results))
    return exit_code([r.verdict for r in results])


# -- Go images, caches, and the options of commands that run Go tests (issue 5) ----------------

RUNNER_HELP = (
    "Where Go tests run: 'docker' (a container per run: non-root, no privileges, no network "
    "while tests run), 'local' (the Go on PATH), or 'auto': Docker when a daemon answers, else "
    "the local Go."
)
IMAGE_HELP = (
    "Go image for the docker runner. 'auto': the official golang:<go.mod's version> if here or "
    "pullable, else an image from 'patcher image build' with a recent enough Go, else one built "
    "from the local Go on the spot. A NAME forces that image."
)


def runner_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--runner, --image, --offline and --timeout, for the commands that run Go tests."""
    func = click.option(
        "--timeout", "timeout_s", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT_S, show_default=True,
        metavar="SECONDS", help="Stop a go test run (and its container) after this long, and report a timeout.",
    )(func)  # fmt: skip
    func = click.option(
        "--offline", is_flag=True, help="No network: tests run with the Go module cache only (fill it with one online run first)."
    )(func)
    func = click.option(
        "--cache-limit", metavar="SIZE",
        help="How much disk the Go caches argo-patcher owns may take (build cache, test binaries, module cache); the "
        "least recently used build outputs are removed after each release, down to 85% of it so that the releases still "
        "running stay under it. 0: no limit. "
        f"Default: ARGO_PATCHER_CACHE_LIMIT, else {gocache.DEFAULT_LIMIT}.",
    )(func)  # fmt: skip
    func = click.option("--image", default="auto", show_default=True, metavar="auto|NAME", help=IMAGE_HELP)(func)
    func = click.option("--runner", type=click.Choice(RUNNERS), default="auto", show_default=True, help=RUNNER_HELP)(func)
    return func


@cli.group()
def image() -> None:
    """Go images for the docker runner: build one from a local Go, list the usable ones."""


@image.command("build")
@click.option(
    "--goroot", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
    help="The Go installation to put in the image. Default: the one `go env GOROOT` names.",
)  # fmt: skip
@click.option("--tag", metavar="TAG", help="The image's name. Default: argo-patcher/go:<Go version>, or argo-patcher:<version> with --self.")
@click.option("--rebuild", is_flag=True, help="Build again even if an image of that name exists.")
@click.option(
    "--self", "self_", is_flag=True,
    help="Build argo-patcher's own image instead, the one 'patcher matrix --emit argo-workflow' runs: the Go image "
    "plus this machine's Python, argo-patcher with its dependencies, and git (still no registry).",
)  # fmt: skip
def image_build(goroot: Path | None, tag: str | None, rebuild: bool, self_: bool) -> None:
    """Build a Go image with no registry: FROM scratch, with a local GOROOT, CA certificates,
    a writable /tmp and a non-root user (uid 1000). Takes seconds; reuses an image of the same
    name unless --rebuild. Prints the image's name."""
    from patcher.delivery import selfimage
    from patcher.runners import images

    ui.out(selfimage.build(goroot, tag, rebuild=rebuild) if self_ else images.build(goroot, tag, rebuild=rebuild).ref)


@image.command("list")
def image_list() -> None:
    """List the usable Go images (argo-patcher's and local golang:* ones) with their Go version."""
    from patcher.runners import images

    found = images.list_images()
    if not found:
        ui.info("no Go images; `patcher image build` makes one from the local Go (the docker runner also does it by itself)")
        return
    width = max(len(i.ref) for i in found)
    ui.out(f"{'IMAGE':<{width}}  {'GO':<8}  {'SIZE':>8}  SOURCE")
    for found_image in found:
        size = f"{found_image.size / 1e6:.0f} MB"
        ui.out(f"{found_image.ref:<{width}}  {str(found_image.go or '?'):<8}  {size:>8}  {found_image.source}")


@cli.group()
def cache() -> None:
    """What argo-patcher keeps between runs: git mirrors, Go caches, the cluster binaries."""


@cache.command("info")
@pass_session
def cache_info(session: Session) -> None:
    """Show every kind of state argo-patcher keeps, where it is and its size: the git mirrors, the
    Go module and build caches (Docker volumes for the docker runner, a directory for the local
    runner), the cluster binaries, and what the runs keep under the cache directory (kept results,
    marks, records, tools, the pinned copies of argo-patcher's code, locks)."""
    from patcher import state

    entries = state.info(session.store)
    limit = gocache.limit_bytes()
    go_total = sum(e.size or 0 for e in entries if e.kind.startswith("go-"))
    shown = f"limit {state.human(limit)}: the least recently used trimmed after each release" if limit else "no limit"
    entries.append(state.CacheEntry("go-total", "all the Go caches above", go_total, f"{shown} (--cache-limit, ARGO_PATCHER_CACHE_LIMIT)"))
    entries.append(state.CacheEntry("total", "everything above", sum(e.size or 0 for e in entries if e.kind != "go-total"),
                                    f"the volumes, and all under {settings.cache_root()}"))  # fmt: skip
    width = max(len(e.name) for e in entries)
    kind_width = max(len(e.kind) for e in entries)
    ui.out(f"{'CACHE':<{kind_width}}  {'WHERE':<{width}}  {'SIZE':>9}  NOTE")
    for entry in entries:
        ui.out(f"{entry.kind:<{kind_width}}  {entry.name:<{width}}  {state.human(entry.size):>9}  {entry.note}")


CLEAN_HELP = {
    "go": "Remove the Go module and build caches (volumes and local directory).",
    "mirrors": "Remove the git mirrors (not those with worktrees in use or kept).",
    "cluster": "Remove the etcd and kube-apiserver 'patcher cluster build' made.",
}


def clean_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """A flag per kind of state ``patcher.state`` knows, each removing that kind."""
    from patcher import state

    for record in reversed(state.RECORDS):
        func = click.option(f"--{record.kind}", record.kind.replace("-", "_"), is_flag=True, help=f"Remove {record.what}.")(func)
    for kind in reversed(list(CLEAN_HELP)):
        func = click.option(f"--{kind}", kind, is_flag=True, help=CLEAN_HELP[kind])(func)
    return func


@cache.command("clean")
@clean_options
@click.option("--all", "all_", is_flag=True, help="All of them.")
@pass_session
def cache_clean(session: Session, all_: bool, **kinds: bool) -> None:
    """Remove caches and records; the next run fills them again (downloads and compiles take
    longer then, and results kept of earlier runs run again)."""
    from patcher import state

    chosen = state.KINDS if all_ else tuple(kind for kind in state.KINDS if kinds.get(kind.replace("-", "_")))
    removed = state.clean(kinds=chosen, store=session.store)
    for entry in removed:
        ui.info(f"removed {entry.name} ({state.human(entry.size)})")
    if not removed:
        ui.info("nothing to remove")


# -- Patching and proving one release (issues 3 and 5) --------------------------------------------

VERSION_HELP = (
    "What to patch: a release tag (v3.5.5), a release line (v3.5), 'latest', or any git ref of --repo: a branch "
    "(release-3.7, main, team/argo-3.5), another tag, a commit id."
)
SIGNOFF_HELP = "Add the Signed-off-by: trailer of your git identity (user.name, user.email), as Argo's DCO requires."


NO_TEST_HELP = (
    "Patch and check the patch (it renders for the release's code, its imports are consistent, it is "
    "gofmt-clean) without running any test; with --output, --keep or --commit-to, hand the tree over."
)


def upstream_pr_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--upstream-pr", type=click.IntRange(min=1), metavar="N",
        help="The upstream pull request (to main) this change backports: the commit is titled as upstream titles a "
        "cherry-pick, '<title> (cherry-pick #N for X.Y)'.",
    )(func)  # fmt: skip


def prove_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The runner options plus --suite, --no-baseline, --rerun-fails and --no-test: what 'apply' and 'matrix' share."""
    func = runner_options(func)
    func = click.option("--no-test", is_flag=True, help=NO_TEST_HELP)(func)
    func = click.option(
        "--cluster", type=click.Choice(["api", "node"]), is_flag=False, flag_value="api", default=None,
        help="Also prove the real workflow-controller: build it from the unpatched and the patched tree, run each "
        "against a private API server (etcd and kube-apiserver, in a network of their own) with the release's CRDs, "
        "and check the contract's cases on the Pods it creates. The binaries come from KUBEBUILDER_ASSETS, PATH, or "
        "'patcher cluster build' (done once, by itself, when missing). --cluster=node instead runs a private single node "
        "(containerd, kubelet, kube-controller-manager, kube-scheduler; root only), installs the release's own Argo with "
        "the images built here, and runs the cases' workflows as real pods, plus a retry, an exit handler and Succeeded.",
    )(func)  # fmt: skip
    func = click.option(
        "--lint/--no-lint", default=None,
        help="Also run upstream's linters on the packages the change touches, on the baseline and the patched tree: the "
        "golangci-lint version the ref pins (built once per version), with its .golangci.yml and build tags, and go vet; a "
        "finding the patched tree has and the baseline lacks fails the release. On by default with --commit-to and --pr-body.",
    )(func)  # fmt: skip
    func = click.option(
        "--fresh", is_flag=True,
        help="Run every test again, even a run whose every input (commit, patch, harness, tests, Go) is the same as "
        "an earlier one's; by default that earlier result is replayed and marked cached, as go test does.",
    )(func)  # fmt: skip
    func = click.option(
        "--rerun-fails", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
        help="Run failed tests again, up to N times (gotestsum's convention); a test that passes on a rerun is reported as flaky.",
    )(func)  # fmt: skip
    func = click.option("--no-baseline", is_flag=True, help="Skip the run of the unpatched tree.")(func)
    func = click.option("--suite", type=click.Choice(list(SUITES)), default="regression", show_default=True, help=SUITES_HELP)(func)
    return func


def prove_options_from(kwargs: dict[str, Any]) -> ProveOptions | None:
    """The ProveOptions that prove_options' flags describe (popped from a command's kwargs);
    None with --no-test."""
    options = ProveOptions(
        suite=kwargs.pop("suite"),
        baseline=not kwargs.pop("no_baseline"),
        runner=kwargs.pop("runner"),
        image=kwargs.pop("image"),
        offline=kwargs.pop("offline"),
        timeout_s=kwargs.pop("timeout_s"),
        rerun_fails=kwargs.pop("rerun_fails"),
        cache_limit=gocache.limit_bytes(kwargs.pop("cache_limit")),
        fresh=kwargs.pop("fresh"),
        cluster=kwargs.get("cluster") == "api",
        node=kwargs.pop("cluster") == "node",
        lint=bool(kwargs.pop("lint")),
    )
    return None if kwargs.pop("no_test") else options


@cli.command()
@click.option("--version", "version", required=True, metavar="VERSION", help=VERSION_HELP)
@click.option("--format", "fmt", type=click.Choice(["diff", "mbox"]), default="diff", show_default=True,
              help="diff: for 'git apply'; mbox: one commit with a backport message, for 'git am'.")
@click.option("--with-harness", is_flag=True, help="Include the Go precedence harness (a new _test.go file).")
@click.option("--fix-only", is_flag=True, help="The fix alone, without its upstream-style test in the release's own test files.")
@click.option("--signoff", is_flag=True, help=f"With --format mbox: {SIGNOFF_HELP[0].lower()}{SIGNOFF_HELP[1:]}")
@upstream_pr_option
@release_options
@pass_session
def diff(
    session: Session, version: str, fmt: str, with_harness: bool, fix_only: bool, signoff: bool, upstream_pr: int | None, pre: bool, refresh: bool
) -> None:
    """Print the patch for one release, rendered for its code: the fix and its upstream-style
    regression test (added to the release's own test files), as upstream would merge them.

    Prints nothing (and exits 0) when the release already carries the fix. Refuses a patch it
    can show to be broken (an unused or missing import, invalid Go) with exit 1.
    """
    settings.check()
    if signoff and fmt != "mbox":
        raise InputError("--signoff signs a commit: add --format mbox")
    release = session.resolve_one(version, pre=pre, refresh=refresh)
    if signoff:
        handover.check_signoff(session)
    if upstream_pr is not None and fmt != "mbox":
        raise InputError("--upstream-pr titles a commit: add --format mbox")
    text = handover.patch_text(session, release, fmt=fmt, with_harness=with_harness, signoff=signoff, fix_only=fix_only, upstream_pr=upstream_pr)
    if text:
        ui.out(text)


@cli.command("apply")
@click.option("--version", "version", required=True, metavar="VERSION", help=VERSION_HELP)
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep the patched tree at DIR (new or empty), a git worktree whose 'git diff' is the patch.")
@click.option("--keep", is_flag=True, help="Keep the tree in its temporary directory and say where.")
@click.option("--commit-to", metavar="BRANCH",
              help="Also record the proven patched tree as a commit on the new BRANCH of the local --repo (its work tree is "
              f"not touched); from a release branch, name it as Argo's cherry-pick automation does: {handover.BRANCH_NAMING}.")
@click.option("--signoff", is_flag=True, help=f"With --commit-to: {SIGNOFF_HELP[0].lower()}{SIGNOFF_HELP[1:]}")
@click.option("--pr-body", "pr_path", type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path), metavar="FILE",
              help="Write the Markdown body of a pull request: what was wrong on this ref, what the change does, the cases before "
              "and after, the upstream tests run, the command that reproduces it.")
@click.option("--with-harness", is_flag=True, help="Keep the Go precedence harness in the written tree or commit.")
@upstream_pr_option
@prove_options
@report_options
@exit_zero_option
@release_options
@pass_session
def apply_command(session: Session, version: str, output: Path | None, keep: bool, commit_to: str | None, signoff: bool,
                  pr_path: Path | None, with_harness: bool, upstream_pr: int | None, pre: bool, refresh: bool, exit_zero: bool,
                  **kwargs: Any) -> int:
    """Patch one release and prove it: run the harness and the regression tests on the
    unpatched tree (the baseline) and on the patched tree, then show each case before and after.

    The same run as 'patcher matrix' with one release, plus the hand-over of its tree. Exits 0
    only when every case passes on the patched tree and no test fails that passed before it.
    """
    if kwargs["lint"] is None:  # upstream's bar is what a commit or a pull request is handed over to
        kwargs["lint"] = commit_to is not None or pr_path is not None
    options = RunOptions(
        prove=prove_options_from(kwargs),
        deliver=DeliverOptions(output=output, keep=keep, commit_to=commit_to, with_harness=with_harness, signoff=signoff, upstream_pr=upstream_pr),
        reports=dataclasses.replace(report_options_from(kwargs), pr_path=pr_path),
    )
    options.check()  # before the mirror is touched: a bad combination needs no network

    def proving() -> int:
        release = session.resolve_one(version, pre=pre, refresh=refresh)
        return matrix.prove_and_report(session, [release], options, jobs=1, spec=release.name, later=later_stages(options))

    return judged_later(version, exit_zero, options.reports, proving)


# -- What operators deploy ------------------------------------------------------------------------


@cli.command("build")
@click.option("--version", "version", required=True, metavar="VERSION", help=VERSION_HELP)
@click.option("--platform", "platform_list", metavar="OS/ARCH,...",
              help="The platforms to build images for, such as linux/amd64,linux/arm64. Default: those upstream "
              "publishes the release's image for (its release workflow says; linux/amd64 and linux/arm64 for every "
              "release from v3.4.0).")
@click.option("--tag", metavar="NAME", help="The image's name. Default: the --push name, else argo-patcher/workflow-controller:<version>-fix12945.")
@click.option("--push", "push", metavar="REGISTRY/NAME[:TAG]",
              help="Push the multi-platform image index there (credentials as 'docker login' keeps them; a registry "
              "on 127.0.0.1 or localhost over plain HTTP). The deploy manifests then name it.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write the binaries (DIR/workflow-controller-linux-ARCH), the image index as an OCI layout "
              "(DIR/oci), this machine's image as a docker-archive (DIR/workflow-controller-image.tar, for 'docker "
              "load'), a kustomize overlay over the release's install manifests (DIR/kustomize) and Helm values "
              "(DIR/helm-values.yaml) that run the image by digest.")
@runner_options
@release_options
@pass_session
def build_command(session: Session, version: str, platform_list: str | None, tag: str | None, push: str | None, output: Path | None,
                  pre: bool, refresh: bool, **kwargs: Any) -> None:  # fmt: skip
    """Build the patched workflow-controller of one release, and its images to deploy.

    The controller is built as the release's Makefile builds it (its version stamp, static, no
    cgo), from the patched tree recorded as a backport commit, with the runner's Go and caches,
    once per platform. The images need no registry: FROM scratch with CA certificates, running
    as uid 8737 like upstream's, labelled with the release, the commits and the patch's digest;
    one per platform, in one multi-platform index. This machine's image goes into the local
    Docker engine. Prints its name. Prove the patch first with 'patcher apply --version VERSION --cluster'.
    """
    from patcher.delivery import deliverables, platforms

    settings.check()
    options = ProveOptions(runner=kwargs.pop("runner"), image=kwargs.pop("image"), offline=kwargs.pop("offline"), timeout_s=kwargs.pop("timeout_s"))
    gocache.limit_bytes(kwargs.pop("cache_limit"))
    options.check()
    request = deliverables.Request(tag=tag, output=output, platforms=platforms.parse_list(platform_list) if platform_list is not None else (), push=push)
    request.image_names("release")  # a malformed name is refused before any work
    if output is not None and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"--output {output} exists and is not empty; choose a new or empty directory")
    ok, why = engine.available()
    if not ok:
        raise DockerUnavailable(f"{why.split(';')[0]}; patcher build makes a Docker image: start Docker")
    release = session.resolve_one(version, pre=pre, refresh=refresh)
    options = dataclasses.replace(options, runner=runners.resolve_kind(options.runner, options.image))
    built = deliverables.build(session, release, options, request)
    provenance = built.provenance
    ui.info(f"built {built.tag} ({built.loaded}, {built.image_id[:19]}): {release} at {provenance.commit[:12]}, patch {provenance.patch_digest[:19]}")
    ui.info(f"image index {built.index_digest}: {', '.join(map(str, built.platforms))}")
    if built.pushed:
        ui.info(f"pushed {built.pushed}")
    for path in built.files:
        ui.info(f"wrote {path}")
    ui.out(built.tag)


# -- The version matrix (issue 6) -----------------------------------------------------------------

EMIT_HELP = (
    "Print the matrix for other machines and run nothing. github-matrix: the releases as JSON for a "
    'CI job strategy ({"include": [{"version": "v3.5.5", "line": "v3.5"}, ...]}). argo-workflow: an '
    "Argo Workflow (YAML) with one pod per release running argo-patcher's own image ('patcher image "
    "build --self'; submit with -p image=NAME) and a step gathering their reports; --jobs becomes its parallelism."
)
MATRIX_EXIT_HELP = (
    "Exit codes: 0 every release's patched run passed (fixed, already-correct, passed); 1 a release "
    "failed on its merits (still-failing, build-error, patch-error); else 3 when the machinery failed "
    "(infra-error, or a run-wide failure such as no Docker daemon); else 2 when the only failures were "
    "input errors (input-error: an unrecognised code shape) or the options were wrong; 130 interrupted."
)


@cli.command("matrix", epilog=MATRIX_EXIT_HELP)
@click.option("--versions", "spec", default="supported", show_default=True, metavar="SPEC", help="The releases to prove (SPEC below).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N", help=f"{matrix.JOBS_HELP} Here: {matrix.default_jobs()}.")
@click.option("--emit", "emit_format", type=click.Choice(["github-matrix", "argo-workflow"]), help=EMIT_HELP)
@prove_options
@report_options
@exit_zero_option
@release_options
@pass_session
def matrix_command(session: Session, spec: str, jobs: int | None, emit_format: str | None, pre: bool, refresh: bool,
                   exit_zero: bool, **kwargs: Any) -> int:
    """Prove the backport on every release SPEC names, side by side, and report per release and
    per case what fails before the patch (the baseline) and what passes after it.

    One release's failure never stops the others. While it runs: a live table on a terminal, a
    line per stage change elsewhere (CI logs). At the end: a row per release and a column per
    case (before→after), the failures' details, and the reports asked for.
    """
    from patcher.reports import emit

    options = RunOptions(prove=prove_options_from(kwargs), reports=report_options_from(kwargs))
    if emit_format and options.reports != ReportOptions():
        raise InputError("--emit prints the matrix and runs nothing: drop --json, --junit and --markdown")
    options.check()
    if emit_format:
        releases = session.resolve(spec, pre=pre, refresh=refresh)
        ui.out(emit.render(emit_format, releases, repo=session.repo, options=options.prove, jobs=jobs or matrix.default_jobs()))
        return ExitCode.OK

    def proving() -> int:
        releases = session.resolve(spec, pre=pre, refresh=refresh)
        return matrix.prove_and_report(session, releases, options, jobs=jobs or matrix.default_jobs(), spec=spec, later=later_stages(options))

    return judged_later(spec, exit_zero, options.reports, proving)


matrix_command.help = f"{inspect.cleandoc(matrix_command.help or '')}\n\n{SPEC_HELP}"


cli.add_command(cluster_commands)


def later_stages(options: RunOptions) -> pipeline.LaterStages:
    """What a run hands to the stages after its own, which it may not import: the further proofs
    asked for, the hand-over of the tree, the reports."""
    prove = options.prove
    proofs: list[pipeline.Proof] = []
    if prove is not None and prove.lint:
        proofs.append(lint.LintProof())
    if prove is not None and prove.cluster:
        proofs.append(cluster.ControllerProof())
    if prove is not None and prove.node:
        proofs.append(cluster.NodeProof())
    return pipeline.LaterStages(proofs=proofs, hand_over=handover.TreeHandOver(), report=_present)


def _present(results: Sequence[ReleaseResult], files: ReportOptions, spec: str) -> None:
    reports.present(list(results), files, spec=spec)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure ends as one line on stderr and an exit code."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = cli.main(args=argv, prog_name="patcher", standalone_mode=False)
    except click.exceptions.Abort as exc:
        code = _report_interrupt(exc.__cause__ or exc.__context__)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except PatcherError as exc:
        ui.error(no_space_line(exc) or str(exc))
        code = ExitCode.INFRA if is_no_space(exc) and exc.exit_code is not ExitCode.INTERRUPTED else exc.exit_code
    except KeyboardInterrupt as exc:
        code = _report_interrupt(exc)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if ui.verbosity() > ui.VERBOSE:
            traceback.print_exc()
        ui.error(no_space_line(exc) or internal_error_line(exc))
        code = ExitCode.INFRA
    sys.exit(int(code or 0))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"interrupted ({signal.Signals(signum).name})")


def _report_interrupt(exc: BaseException | None) -> int:
    ui.error(matrix.stop_reason(exc) if isinstance(exc, KeyboardInterrupt) else "interrupted")
    return ExitCode.INTERRUPTED

