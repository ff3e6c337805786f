"""Stage 5, runners: where Go runs, in a container of the Docker engine or with the local Go.

A run decides where tests run once (``resolve_kind``: a run-wide choice, made before any
release starts), then the pipeline calls ``prepare`` once per release (the image suits the
release's go.mod) and ``Runner.run`` for the baseline and the patched tree. All are
thread-safe: releases may run in parallel threads. On Ctrl-C with runs in other threads, call
``abort_all()`` (it also runs by itself when the interpreter exits while runs are going on).

Owns the Docker engine (``engine``: the client, argo-patcher's labels, the reaper of what killed
runs left), the Go images (``images``), the host's Go (``hostgo``) and gofmt (``gofmt``), child
processes in groups of their own (``childprocs``), ``go test``'s output (``gotest``) and what a
run of tests produced (``testresults``). Imports the top of ``patcher`` and the earlier stages.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from patcher import ui
from patcher.errors import DockerUnavailable, InfraError, InputError, ToolchainUnavailable
from patcher.options import DEFAULT_TIMEOUT_S, RUNNERS
from patcher.patching import gomod
from patcher.runners import childprocs, engine, hostgo, images
from patcher.runners.base import RunInterrupted, Runner, abort_all, reset_abort
from patcher.runners.container import DockerRunner
from patcher.runners.local import LocalRunner

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RUNNERS",
    "DockerRunner",
    "LocalRunner",
    "RunInterrupted",
    "Runner",
    "abort_all",
    "prepare",
    "resolve_kind",
    "reset_abort",
]

_choice_lock = threading.Lock()


def prepare(tree: Path, *, runner: str = "auto", image: str = "auto", offline: bool = False, context: str = "") -> Runner:
    """The runner for ``tree``: where its tests run, with a Go its go.mod accepts.

    ``runner``: "docker", "local", or "auto" (see ``resolve_kind``). ``image``: "auto" (see
    ``images.choose``; may pull, or build from the local Go, saying so) or an image reference to
    force. ``context`` names the tree in messages ("v3.5.5"). Raises ``InputError`` for bad
    options and ``InfraError`` when nothing can run the tests (no image, a local Go too old).
    """
    module = gomod.read(Path(tree))
    what = context or str(tree)
    kind = resolve_kind(runner, image)
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


def reap_leftovers(kind: str) -> None:
    """Remove what killed runs left (their containers, their process groups), once as a run starts:
    a run whose every result is replayed starts no container, and would otherwise never reap them."""
    try:
        if kind == "docker":
            removed = engine.reap_orphans()
            if removed:
                ui.debug(f"removed {len(removed)} container(s) left by killed runs: {', '.join(removed)}")
        childprocs.reap_orphans("local")
    except (InfraError, OSError) as exc:  # the runs reap again when they start theirs
        ui.debug(f"could not reap what killed runs left: {exc}")


def resolve_kind(runner: str, image: str = "auto") -> str:
    """Where tests run, "docker" or "local", decided once for a whole run: "auto" takes Docker
    when a daemon answers, else the local Go (saying so once). Raises a run-wide error when the
    choice cannot run anything: no daemon for "docker", no Go for "local", neither for "auto"."""
    if runner not in RUNNERS:
        raise InputError(f"--runner {runner}: expected one of {', '.join(RUNNERS)}")
    if runner == "local":
        if image != "auto":
            raise InputError("--image needs the docker runner; drop --runner local or --image")
        if hostgo.find() is None:
            raise ToolchainUnavailable("no Go on PATH for --runner local; install Go (go.dev/dl) or use --runner docker")
        return "local"
    if runner == "docker" or image != "auto":
        ok, why = engine.available()
        if not ok:
            raise DockerUnavailable(why)
        return "docker"
    with _choice_lock:
        ok, why = engine.available()
        if ok:
            return "docker"
        if hostgo.find() is None:
            raise DockerUnavailable(f"{why.split(';')[0]}, and there is no Go on PATH for --runner local; start Docker or install Go")
        _say_once(f"{why.split(';')[0]}; running the tests with the local Go instead (--runner local)")
        return "local"


@functools.cache
def _say_once(message: str) -> None:
    ui.info(message)
