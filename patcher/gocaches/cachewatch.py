"""Keeping the Go caches under their limit while a release builds, not only between releases.

The trim after each release (``pipeline._trim_caches``) sets where the next release starts, but
a release adds to the caches while it builds: a release line's first, cold build up to 2.4 GB
(measured on the whole history, with another release building beside it), which took the caches
over their limit before the next trim came. So while a release's Go runs and builds go on, a
thread checks the caches and trims them once they pass ``WATCH_AT`` of the limit. A check walks
the caches (about 5 s for 17 GB), so they are checked at most every ``INTERVAL_S`` seconds, and
less often the more room the last check or trim found: never later than builds filling the caches
at ``GROWTH_PER_S`` (twice the most measured, 0.5 GB in a minute) could reach the threshold. The
trim never removes what was used within its grace, so the builds going on keep what they read;
what they add meanwhile is new. Releases proved side by side share the checks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from patcher import ui
from patcher.gocaches import gocache

INTERVAL_S = 60.0
WATCH_AT = 0.9  # of the limit: the trim goes on down (the program's low-water mark)
GROWTH_PER_S = 1e9 / 60



class Trimmer(Protocol):
    """What trims the caches: a runner (``runners.Runner``), in the place its Go runs."""

    def trim_cache(self, limit: int) -> gocache.TrimReport: ...


_lock = threading.Lock()
_last_check = float("-inf")  # time.monotonic() of the last check or trim, by any release
_last_total: int | None = None  # what the caches took then, in bytes


@contextlib.contextmanager
def kept_under(runner: Trimmer, limit: int, what: str) -> Iterator[None]:
    """Within the block, trim ``runner``'s caches whenever they pass ``WATCH_AT`` of ``limit``
    (0: no limit, nothing watched). ``what`` names the release in messages."""
    if not limit:
        yield
        return
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(runner, int(limit * WATCH_AT), what, stop), name=f"cachewatch {what}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def record(report: gocache.TrimReport) -> None:
    """What a trim found (the one after a release, say): the next check can wait accordingly."""
    global _last_check, _last_total
    with _lock:
        _last_check, _last_total = time.monotonic(), report.total


def _watch(runner: Trimmer, threshold: int, what: str, stop: threading.Event) -> None:
    while not stop.wait(INTERVAL_S / 2):
        if not _take_turn(threshold):
            continue
        try:
            report = runner.trim_cache(threshold)
        except Exception as exc:  # noqa: BLE001 - the watch is a safeguard; the trim after the release reports its failures
            ui.debug(f"[{what}] cache watch stopped: {exc}")
            return
        record(report)
        if report.removed_bytes:
            ui.debug(f"[{what}] while building: {report.describe()}")


def _take_turn(threshold: int) -> bool:
    """Whether a check is due: the caches could have reached ``threshold`` since the last one."""
    global _last_check
    with _lock:
        now = time.monotonic()
        wait = INTERVAL_S
        if _last_total is not None:
            wait = max(wait, (threshold - _last_total) / GROWTH_PER_S)
        if now - _last_check < wait:
            return False
        _last_check = now
        return True
