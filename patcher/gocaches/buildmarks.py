"""Whether a release's two runs may go side by side: a hint left by earlier runs.

With a release's packages already in the Go build cache, a run is mostly single-threaded work
(hashing sources, a cached link, the tests), so its baseline and patched runs overlap well. With
a cold cache both would compile the same dependencies at once; then the baseline runs first and
the patched run reuses what it compiled. The hint is a marker per Go cache and commit, left once
both runs built, and trusted while Go keeps unused cache entries (five days). A wrong hint costs
time, never a result.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from patcher import settings

MAX_AGE_S = 5 * 24 * 3600


def _marker(cache_identity: str, commit: str) -> Path | None:
    if not cache_identity:
        return None
    cache = hashlib.sha256(cache_identity.encode()).hexdigest()[:16]
    return settings.cache_root() / "warm" / cache / commit


def is_warm(cache_identity: str, commit: str) -> bool:
    marker = _marker(cache_identity, commit)
    try:
        return marker is not None and time.time() - marker.stat().st_mtime < MAX_AGE_S
    except OSError:
        return False


def remember(cache_identity: str, commit: str) -> None:
    marker = _marker(cache_identity, commit)
    if marker is None:
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
