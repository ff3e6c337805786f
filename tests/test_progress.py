from __future__ import annotations

import io
import threading

from rich.console import Console

from patcher import ui
from patcher.run import progress
from tests import report_samples as samples


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_per_stage_change_with_the_release_time():
    lines: list[str] = []
    clock = Clock()
    view = progress.PlainProgress(["v3.5.5"], say=lines.append, clock=clock)
    view.stage("v3.5.5", "checkout")
    clock.now += 12
    view.stage("v3.5.5", "baseline")
    clock.now += 70
    view.stage("v3.5.5", "done")
    view.finish("v3.5.5", samples.fixed())
    assert lines == [
        "[v3.5.5] checkout started (0:00)",
        "[v3.5.5] baseline started (0:12)",
        "[v3.5.5] done: fixed (1:22)",
    ]


def test_plain_done_line_carries_the_error_message():
    lines: list[str] = []
    view = progress.PlainProgress([], say=lines.append, clock=Clock())
    view.finish("v3.5.15", samples.patch_error())
    assert lines == ['[v3.5.15] done: patch-error (0:00): the patched workflow/templateresolution/context.go would not compile: "maps" imported and not used']


def test_off_a_terminal_the_view_is_plain_and_quiet_mode_silences_it():
    console = Console(file=io.StringIO())
    assert not console.is_terminal
    assert type(progress.for_console(["v1"], console)) is progress.PlainProgress
    terminal = Console(file=io.StringIO(), force_terminal=True)
    view = progress.for_console(["v1"], terminal)
    assert type(view) is progress.LiveProgress
    view.close()
    try:
        ui.configure(quiet=True)
        assert type(progress.for_console(["v1"], terminal)) is progress.QuietProgress
    finally:
        ui.configure()


def test_stages_from_many_threads_all_arrive():
    lines: list[str] = []
    view = progress.PlainProgress([], say=lines.append)
    releases = [f"v3.{n}.0" for n in range(8)]

    def work(release: str) -> None:
        for stage in progress.STAGES:
            view.stage(release, stage)
        view.finish(release, samples.fixed())

    threads = [threading.Thread(target=work, args=(r,)) for r in releases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lines) == len(releases) * (len(progress.STAGES) + 1)
    for release in releases:
        mine = [line for line in lines if line.startswith(f"[{release}]")]
        assert [line.split()[1] for line in mine] == [*progress.STAGES, "done:"]


def test_live_table_shows_stage_times_skips_and_verdicts():
    clock = Clock()
    console = Console(file=io.StringIO(), width=120, color_system=None)
    view = progress.LiveProgress(["v3.4.17", "v3.6.19", "v3.7.18"], console=Console(file=io.StringIO(), force_terminal=True), clock=clock)
    try:
        view.stage("v3.4.17", "checkout")
        clock.now += 5
        view.stage("v3.4.17", "patch")
        clock.now += 2
        view.stage("v3.4.17", "patched")  # no baseline
        view.stage("v3.6.19", "checkout")
        clock.now += 61
        console.print(view.render())
        rows = console.file.getvalue().splitlines()
        assert rows[0].startswith("0/3 done, 2 running, 1:08")
        first = next(r for r in rows if r.startswith("v3.4.17")).split()
        assert first[1:7] == ["✓", "0:05", "✓", "0:02", "–", first[6]] and first[7] == "1:01"
        assert next(r for r in rows if r.startswith("v3.7.18")).split()[-1] == "queued"
        view.finish("v3.4.17", samples.fixed())
        console.file.truncate(0)
        console.file.seek(0)
        console.print(view.render())
        assert "fixed" in next(r for r in console.file.getvalue().splitlines() if r.startswith("v3.4.17"))
    finally:
        view.close()


def test_an_unknown_stage_gets_its_own_column():
    clock = Clock()
    view = progress.LiveProgress(["v1"], console=Console(file=io.StringIO(), force_terminal=True), clock=clock)
    try:
        view.stage("v1", "harness")
        console = Console(file=io.StringIO(), width=120, color_system=None)
        console.print(view.render())
        assert "harness" in console.file.getvalue().splitlines()[1]
    finally:
        view.close()
