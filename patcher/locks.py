"""File locks between argo-patcher processes on this machine, all in one directory.

Every lock is ``<cache root>/locks/<name>.lock`` (a store of another root keeps its own), so
that what guards a mirror, an image build, a slot of kept test binaries or a cluster build is
found in one place, and ``patcher cache clean`` never removes a lock another run holds.
"""

from __future__ import annotations

import re
from pathlib import Path

import filelock

from patcher import settings

DEFAULT_TIMEOUT_S = 15 * 60


def path(name: str, root: Path | None = None) -> Path:
    directory = (root or settings.cache_root()) / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]", "_", name)
    return directory / f"{safe}.lock"


def lock(name: str, *, timeout: float = DEFAULT_TIMEOUT_S, root: Path | None = None) -> filelock.FileLock:
    """The lock named ``name``; ``timeout`` seconds before ``acquire`` gives up (0: at once)."""
    return filelock.FileLock(path(name, root), timeout=timeout)
