"""argo-patcher's Go build cache: a GOCACHEPROG program that records every use, and trimming
the caches argo-patcher owns to a size limit.

Go's build cache grows by about a gigabyte per release proven, and Go itself trims it only of
what went unused for five days, marking a use at most once an hour: nothing it keeps says what a
matrix still needs. So the tests' go command serves its build cache through argo-patcher's own
program (``patcher/cacheprog``, Go, standard library only; GOCACHEPROG, Go 1.24 on), in Go's own
file layout, and the program touches every entry a build reads. After each release, ``trim``
removes the least recently used files until the build cache, the kept test binaries and the
module cache (counted, never trimmed) together fit the limit. With an older Go the go command
keeps its own cache and ``trim`` works on it the same way, with Go's hourly marks.

The program is built from its source by the Go that runs the tests (no network, seconds), once
per version of the source, into a directory the trim never touches.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from patcher import selfcode, settings
from patcher.errors import InfraError, InputError
from patcher.patching.gomod import GoVersion

SOURCE_PATH = "patcher/gocaches/cacheprog"  # in argo-patcher's code (``selfcode``)
LRU_DIR = "argo-patcher-lru"  # in the build cache: the entries GOCACHEPROG serves
TOOLS_DIR = "argo-patcher-tools"  # in the build cache (docker) or the cache root (local): never trimmed
SERVES_FROM = GoVersion(1, 24)  # GOCACHEPROG
GRACE = "10m"  # what a build used this recently is never trimmed
DEFAULT_LIMIT = "20GB"
MIN_LIMIT = 2 * 10**9  # below this, one release's own build would be trimmed under its feet
# A trim leaves room under the limit for what the releases still running add before the next
# trim (a release line's first, cold build adds up to 2 GB): trimmed to the limit itself, the
# whole history's caches reached 22.4 GB of 20 GB between trims.
TRIM_TO = 0.85


def trim_target(limit: int) -> int:
    """What a trim brings the caches down to, under ``limit``."""
    return int(limit * TRIM_TO)


def source() -> Path:
    """The program's source as this process read it at its start (``selfcode``): what is built."""
    return selfcode.path(SOURCE_PATH)


@functools.cache
def tool_name() -> str:
    """The program's file name: one per version of its source, so an upgrade builds it anew."""
    return f"cacheprog-{selfcode.digest(*(f'{SOURCE_PATH}/{name}' for name in ('go.mod', 'main.go')))}"


def serves(go: GoVersion | None) -> bool:
    """Whether a go command of this version serves its cache through GOCACHEPROG."""
    return go is not None and go >= SERVES_FROM


def serve_command(tool: str, build_cache: str) -> str:
    """The GOCACHEPROG value (the go command splits it on spaces)."""
    return f"{tool} serve {build_cache}/{LRU_DIR}"


def build_command(tool: str) -> list[str]:
    """The go command that builds the program, run in a copy or mount of ``source()``."""
    return ["go", "build", "-trimpath", "-o", tool, "."]


def trim_command(tool: str, limit: int, *, build_cache: str, module_cache: str, keep: str) -> list[str]:
    return [tool, "trim", "-limit", str(limit), "-grace", GRACE, "-also", module_cache, "-skip", keep, build_cache]


def limit_bytes(option: str | None = None) -> int:
    """The cache limit in bytes (0: none): ``--cache-limit``, else ARGO_PATCHER_CACHE_LIMIT, else 20GB."""
    name, text = ("--cache-limit", option) if option is not None else (settings.CACHE_LIMIT, settings.cache_limit_text())
    text = text or DEFAULT_LIMIT
    try:
        limit = settings.parse_size(text)
    except ValueError:
        raise InputError(f"{name} {text!r}: expected a size such as 20GB, 500MB or 0 for no limit") from None
    if 0 < limit < MIN_LIMIT:
        raise InputError(f"{name} {text!r}: a cache limit under 2GB would trim a release's own build; use at least 2GB, or 0 for none")
    return limit


@dataclasses.dataclass(frozen=True)
class TrimReport:
    """What a trim found and removed, in bytes."""

    limit: int
    before: int  # trimmable files (build cache, test binaries) before
    after: int
    kept: int  # counted, never trimmed (module cache, the program itself)
    removed_files: int
    removed_bytes: int
    protected_bytes: int  # over the limit, but used within the grace

    @property
    def total(self) -> int:
        return self.after + self.kept

    @classmethod
    def parse(cls, text: str) -> TrimReport:
        try:
            data = json.loads(text.strip().splitlines()[-1])
            return cls(
                int(data["limit"]), int(data["before"]), int(data["after"]), int(data["also"]),
                int(data["removed_files"]), int(data["removed_bytes"]), int(data["protected_bytes"]),
            )  # fmt: skip
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InfraError(f"the cache trim said something unexpected ({type(exc).__name__}): {text.strip()[:200]!r}") from None

    def describe(self) -> str:
        gb = 1e9
        text = f"caches {self.total / gb:.1f} GB of {self.limit / gb:.0f} GB"
        if self.removed_bytes:
            text += f" after removing {self.removed_bytes / gb:.1f} GB used least recently"
        if self.protected_bytes:
            text += f"; {self.protected_bytes / gb:.1f} GB over the limit is in use"
        return text
