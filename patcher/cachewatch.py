"""Keeping the Go caches under their limit while a release builds, not only between releases.

The trim after each release (``pipeline._trim_caches``) sets where the next release starts, but
a release adds to the caches while it builds: a release line's first, cold build up to 2.4 GB
(measured on the whole history, with another release building beside it), which took the caches
over their limit before the next trim came. So while a release's Go runs and builds go on, a
thread checks the caches every ``INTERVAL_S`` seconds and trims them once they pass ``WATCH_AT``
of the limit (a check walks the caches: about 5 s for 17 GB, so not more often; the most a build
added in a minute on the whole history was 0.5 GB). The trim never removes what was used within its grace, so the builds going on keep
what they read; what they add meanwhile is new. The checks of releases proved side by side are
spread out: one check per interval in all, whichever release makes it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from patcher import ui
from patcher.runners import Runner

INTERVAL_S = 60.0
WATCH_AT = 0.9  # of the limit: the trim goes on down (the program's low-water mark)

_lock = threading.Lock()
_last_check = float("-inf")  # time.monotonic() of the last check, by any release


@contextlib.contextmanager
def kept_under(runner: Runner, limit: int, what: str) -> Iterator[None]:
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


def _watch(runner: Runner, threshold: int, what: str, stop: threading.Event) -> None:
    while not stop.wait(INTERVAL_S / 2):
        if not _take_turn():
            continue
        try:
            report = runner.trim_cache(threshold)
        except Exception as exc:  # noqa: BLE001 - the watch is a safeguard; the trim after the release reports its failures
            ui.debug(f"[{what}] cache watch stopped: {exc}")
            return
        if report.removed_bytes:
            ui.debug(f"[{what}] while building: {report.describe()}")


def _take_turn() -> bool:
    """Whether this check is due: none was made by any release within the interval."""
    global _last_check
    with _lock:
        now = time.monotonic()
        if now - _last_check < INTERVAL_S:
            return False
        _last_check = now
        return True
