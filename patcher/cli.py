"""The command line: options and help only; each command hands over to the module that owns it."""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from patcher import __version__, matrix, reports, ui
from patcher.errors import ExitCode, InputError, PatcherError
from patcher.session import Session
from patcher.store import UPSTREAM_URL
from patcher.versions import SPEC_HELP

EXIT_CODES_HELP = "Exit codes: 0 success, 1 tests failed, 2 usage or input error, 3 infrastructure error (git, Docker, toolchain)."


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
    ctx.obj = Session(repo=repo)


pass_session = click.make_pass_decorator(Session)


def release_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--pre", is_flag=True, help="Let release candidates match.")(func)
    func = click.option("--refresh", is_flag=True, help="Fetch new tags even if the cache has what is asked for.")(func)
    return func


@cli.command()
@click.argument("spec", default="supported")
@release_options
@pass_session
def versions(session: Session, spec: str, pre: bool, refresh: bool) -> None:
    """Print the releases SPEC resolves to, one a line, oldest first.

    SPEC defaults to 'supported'.
    """
    for release in session.resolve(spec, pre=pre, refresh=refresh):
        ui.out(release.tag)


versions.help = f"{versions.help}\n\n{SPEC_HELP}"


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


@cli.group()
def report() -> None:
    """Work with argo-patcher's JSON reports."""


@report.command("merge")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@report_options
def report_merge(files: tuple[Path, ...], json_path: Path | None, junit_path: Path | None, markdown_path: Path | None) -> int:
    """Merge JSON reports into one and show it; exit as 'patcher matrix' would for these releases.

    FILES are reports of 'patcher apply --json' or 'patcher matrix --json', or the list that an
    Argo Workflow gathers from its pods. A release in several files keeps its last report.
    """
    results = reports.load(list(files))
    if not results:
        raise InputError(f"{', '.join(map(str, files))}: no release results to merge")
    reports.present(results, json_path=json_path, junit_path=junit_path, markdown_path=markdown_path)
    return matrix.exit_code(results)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure ends as one line on stderr and an exit code."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = cli.main(args=argv, prog_name="patcher", standalone_mode=False)
    except click.exceptions.Abort:
        code = _report_interrupt()
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except PatcherError as exc:
        ui.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        code = _report_interrupt()
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if ui.verbosity() > ui.VERBOSE:
            traceback.print_exc()
        ui.error(f"internal error: {type(exc).__name__}: {exc} (rerun with -vv for the traceback, and report it)")
        code = ExitCode.INFRA
    sys.exit(int(code or 0))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _report_interrupt() -> int:
    ui.error("interrupted")
    return ExitCode.INTERRUPTED

