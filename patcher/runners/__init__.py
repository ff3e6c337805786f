"""Running Argo's Go tests: in a container of the Docker engine, or with the local Go.

The pipeline calls ``run_go_tests`` (or ``prepare`` once per release, then ``Runner.run`` for
the baseline and the patched tree). Both are thread-safe: releases may run in parallel threads.
On Ctrl-C with runs in other threads, call ``abort_all()`` (it also runs by itself when the
interpreter exits while runs are going on).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path

from patcher import containers, gomod, hostgo, images, ui
from patcher.errors import InfraError, InputError
from patcher.results import RunResult
from patcher.runners.base import DEFAULT_TIMEOUT_S, Runner, RunInterrupted, abort_all, aborting, reset_abort
from patcher.runners.container import DockerRunner
from patcher.runners.local import LocalRunner

RUNNERS = ("auto", "docker", "local")

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RUNNERS",
    "DockerRunner",
    "LocalRunner",
    "RunInterrupted",
    "Runner",
    "abort_all",
    "aborting",
    "prepare",
    "reset_abort",
    "run_go_tests",
]

_choice_lock = threading.Lock()


def prepare(tree: Path, *, runner: str = "auto", image: str = "auto", offline: bool = False, context: str = "") -> Runner:
    """The runner for ``tree``: where its tests run, with a Go its go.mod accepts.

    ``runner``: "docker", "local", or "auto" (Docker when a daemon answers, else the local Go,
    said once). ``image``: "auto" (see ``images.choose``; may pull, or build from the local Go,
    saying so) or an image reference to force. ``context`` names the tree in messages ("v3.5.5").
    Raises ``InputError`` for bad options and ``InfraError`` when nothing can run the tests
    (no daemon for --runner docker, no image, a local Go too old).
    """
    if runner not in RUNNERS:
        raise InputError(f"--runner {runner}: expected one of {', '.join(RUNNERS)}")
    module = gomod.read(Path(tree))
    what = context or str(tree)
    kind = _kind(runner, image)
    if kind == "docker":
        return DockerRunner(images.choose(module, image, offline=offline, context=what), offline=offline)
    host = hostgo.find()
    if host is None:
        raise InfraError("no Go on PATH for --runner local; install Go (go.dev/dl) or use --runner docker")
    if host.version < module.minimum:
        raise InfraError(
            f"the local Go {host.version} is older than the Go {module.minimum} that {what} needs (its go.mod); "
            f"install a newer Go or use --runner docker"
        )
    return LocalRunner(host, offline=offline)


def _kind(runner: str, image: str) -> str:
    if runner == "local":
        if image != "auto":
            raise InputError("--image needs the docker runner; drop --runner local or --image")
        return "local"
    if runner == "docker" or image != "auto":
        ok, why = containers.available()
        if not ok:
            raise InfraError(why)
        return "docker"
    with _choice_lock:
        ok, why = containers.available()
        if ok:
            return "docker"
        if hostgo.find() is None:
            raise InfraError(f"{why.split(';')[0]}, and there is no Go on PATH for --runner local; start Docker or install Go")
        _say_once(f"{why.split(';')[0]}; running the tests with the local Go instead (--runner local)")
        return "local"


@functools.lru_cache(maxsize=None)
def _say_once(message: str) -> None:
    ui.info(message)


def run_go_tests(
    tree: Path,
    packages: Sequence[str],
    run_regex: str | None = None,
    *,
    runner: str = "auto",
    image: str = "auto",
    offline: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    run_id: str,
) -> RunResult:
    """Run ``go test -json -count=1 [-run run_regex] packages`` on ``tree``; see ``prepare`` and
    ``Runner.run``. ``run_id`` labels the run's containers (make it unique per run, e.g.
    "v3.5.5-baseline-<pid>")."""
    return prepare(tree, runner=runner, image=image, offline=offline).run(tree, packages, run_regex, timeout_s=timeout_s, run_id=run_id)
