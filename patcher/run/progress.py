"""What each release is doing while a matrix runs.

On a terminal: a live table of every release's stages and their times. Off a terminal (CI
logs): one plain line per stage change, ``[v3.5.5] baseline started (0:12)``, the time being
how long that release has been running. Nothing in quiet mode. Stages arrive from worker
threads, so every view keeps its state behind a lock.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from patcher import ui
from patcher.run.results import ReleaseResult, Verdict

VERDICT_STYLES = {
    Verdict.FIXED: "bold green",
    Verdict.ALREADY_CORRECT: "green",
    Verdict.PASSED: "green",
    Verdict.PATCHED: "green",
    Verdict.STILL_FAILING: "bold red",
    Verdict.BUILD_ERROR: "bold red",
    Verdict.PATCH_ERROR: "bold magenta",
    Verdict.INPUT_ERROR: "bold magenta",
    Verdict.INFRA_ERROR: "bold yellow",
    Verdict.INTERRUPTED: "yellow",
}


def elapsed(seconds: float) -> str:
    """``0:12``, ``3:05``, ``1:02:03``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

STAGES = ["checkout", "patch", "baseline", "patched"]
DONE = "done"


@dataclasses.dataclass
class _Release:
    started: float | None = None
    current: str | None = None
    stage_started: dict[str, float] = dataclasses.field(default_factory=dict)
    stage_ended: dict[str, float] = dataclasses.field(default_factory=dict)
    finished: float | None = None
    result: ReleaseResult | None = None


class Progress:
    """Tracks stages; subclasses show them. Use as a context manager around the run."""

    def __init__(self, releases: Iterable[object], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stages = list(STAGES)
        self._releases = {str(r): _Release() for r in releases}
        self._began = clock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        pass

    def stage(self, release: object, stage: str) -> None:
        """``release`` has entered ``stage`` (the pipeline's ``on_stage`` callback)."""
        now = self._clock()
        with self._lock:
            state = self._releases.setdefault(str(release), _Release())
            if state.started is None:
                state.started = now
            if state.current is not None:
                state.stage_ended[state.current] = now
            if stage == DONE:
                state.current = None
                return
            if stage not in self._stages:
                self._stages.append(stage)
            state.current = stage
            state.stage_started[stage] = now
            since = now - state.started
        self._stage_started(str(release), stage, since)

    def finish(self, release: object, result: ReleaseResult) -> None:
        now = self._clock()
        with self._lock:
            state = self._releases.setdefault(str(release), _Release())
            if state.current is not None:
                state.stage_ended[state.current] = now
                state.current = None
            state.finished = now
            state.result = result
            since = now - (state.started if state.started is not None else now)
        self._finished(str(release), result, since)

    def _stage_started(self, release: str, stage: str, since: float) -> None:
        pass

    def _finished(self, release: str, result: ReleaseResult, since: float) -> None:
        pass


class PlainProgress(Progress):
    """A line per stage change, for logs."""

    def __init__(self, releases: Iterable[object], *, say: Callable[[str], None] = ui.info, **kwargs: object) -> None:
        super().__init__(releases, **kwargs)  # type: ignore[arg-type]
        self._say = say

    def _stage_started(self, release: str, stage: str, since: float) -> None:
        self._say(f"[{release}] {stage} started ({elapsed(since)})")

    def _finished(self, release: str, result: ReleaseResult, since: float) -> None:
        detail = f": {result.message.splitlines()[0]}" if result.message and not result.ok else ""
        self._say(f"[{release}] done: {result.verdict.value} ({elapsed(since)}){detail}")


class LiveProgress(Progress):
    """A table redrawn in place: a row per release, a column per stage, the time of each."""

    def __init__(self, releases: Iterable[object], *, console: Console, **kwargs: object) -> None:
        super().__init__(releases, **kwargs)  # type: ignore[arg-type]
        self._spinner = Spinner("dots", style="cyan")
        self._live = Live(get_renderable=self.render, console=console, refresh_per_second=4, transient=True)
        self._live.start()

    def close(self) -> None:
        self._live.stop()

    def render(self) -> RenderableType:
        with self._lock:
            return self._render(self._clock())

    def _render(self, now: float) -> RenderableType:
        stages = self._stages
        rows = list(self._releases.items())
        done = sum(state.result is not None for _, state in rows)
        running = sum(state.started is not None and state.result is None for _, state in rows)
        table = Table(
            title=f"{done}/{len(rows)} done, {running} running, {elapsed(now - self._began)}",
            title_justify="left",
            box=None,
            padding=(0, 2, 0, 0),
        )
        table.add_column("release", no_wrap=True)
        for stage in stages:
            table.add_column(stage, no_wrap=True)
        table.add_column("result", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        for release, state in rows:
            table.add_row(release, *(self._stage_cell(state, stages, stage, now) for stage in stages), *self._result_cells(state, now))
        return table

    def _stage_cell(self, state: _Release, stages: list[str], stage: str, now: float) -> RenderableType:
        if state.current == stage:
            spinner = self._spinner.render(now)
            return Text.assemble(spinner if isinstance(spinner, Text) else Text(str(spinner)), f" {elapsed(now - state.stage_started[stage])}")
        if stage in state.stage_ended:
            return Text(f"✓ {elapsed(state.stage_ended[stage] - state.stage_started[stage])}", style="green")
        if state.started is not None and (state.result is not None or _later_started(state, stages, stage)):
            return Text("–", style="dim")
        return Text("·", style="dim")

    def _result_cells(self, state: _Release, now: float) -> tuple[Text, Text]:
        if state.result is not None:
            verdict = state.result.verdict
            return Text(verdict.value, style=VERDICT_STYLES[verdict]), Text(elapsed((state.finished or now) - (state.started or now)))
        if state.started is None:
            return Text("queued", style="dim"), Text("")
        return Text(""), Text(elapsed(now - state.started))


def _later_started(state: _Release, stages: list[str], stage: str) -> bool:
    """Whether the release went past ``stage`` without it (a skipped baseline, say)."""
    return any(s in state.stage_started for s in stages[stages.index(stage) + 1 :])


class QuietProgress(Progress):
    """Tracks, shows nothing."""


def for_console(releases: Iterable[object], console: Console | None = None) -> Progress:
    """The view that suits where stderr goes: live on a terminal, plain lines elsewhere, none when quiet."""
    console = console or ui.stderr()
    if ui.verbosity() <= ui.QUIET:
        return QuietProgress(releases)
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveProgress(releases, console=console)
    return PlainProgress(releases)
