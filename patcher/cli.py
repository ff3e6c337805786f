"""The command line: options and help only; each command hands over to the module that owns it."""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from patcher import __version__, ui
from patcher.errors import ExitCode, PatcherError
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

