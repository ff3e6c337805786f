"""argo-patcher's settings from the environment, read when used, never at import.

Each setting is one environment variable with a default. A bad value is the user's input error:
one line naming the variable, what it holds and what it should hold (exit 2). ``check`` reads
them all, so that a command finds a bad value before it starts any work.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import platformdirs

from patcher.errors import InputError

CACHE = "ARGO_PATCHER_CACHE"
BRANCH_MAX_AGE = "ARGO_PATCHER_BRANCH_MAX_AGE"
CACHE_LIMIT = "ARGO_PATCHER_CACHE_LIMIT"
PULL_TIMEOUT = "ARGO_PATCHER_PULL_TIMEOUT"
VOLUME_PREFIX = "ARGO_PATCHER_VOLUME_PREFIX"

DEFAULT_PULL_TIMEOUT_S = 20.0
DEFAULT_VOLUME_PREFIX = "argo-patcher"
DEFAULT_BRANCH_MAX_AGE = "1h"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def _bad(name: str, value: str, expected: str) -> InputError:
    return InputError(f"{name}={value!r}: expected {expected}; fix it or unset it")


def cache_root() -> Path:
    """Where argo-patcher keeps its mirrors, locks and records (the XDG cache directory by default)."""
    override = os.environ.get(CACHE, "")
    return Path(override).expanduser() if override else platformdirs.user_cache_path("argo-patcher")


def pull_timeout_s() -> float:
    """How long a pull may go without an answer before argo-patcher gives up on the registry."""
    value = os.environ.get(PULL_TIMEOUT, "")
    if not value.strip():
        return DEFAULT_PULL_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        raise _bad(PULL_TIMEOUT, value, "a number of seconds (0 turns pulls off)") from None
    if seconds < 0 or seconds != seconds:
        raise _bad(PULL_TIMEOUT, value, "a number of seconds (0 turns pulls off)")
    return seconds


def volume_prefix() -> str:
    """The prefix of the Docker volumes of the Go caches (another prefix keeps another set apart)."""
    value = os.environ.get(VOLUME_PREFIX, "")
    if not value:
        return DEFAULT_VOLUME_PREFIX
    if not _VOLUME_NAME.match(value):
        raise _bad(VOLUME_PREFIX, value, "letters, digits, '_', '.' or '-', starting with a letter or digit")
    return value


def parse_size(text: str) -> int:
    """Bytes in ``20GB``, ``20G``, ``512MiB`` or ``1000000``; ``ValueError`` otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(text)
    number, prefix, binary = match.groups()
    power = "kmgt".index(prefix.lower()) + 1 if prefix else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``1h`` or ``2d``; ``ValueError`` otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def branch_max_age_s(option: str | None = None) -> float:
    """How old the mirror's copy of branch heads may be before a spec naming a branch fetches
    them again: ``--branch-max-age``, else the environment, else an hour."""
    name, value = ("--branch-max-age", option) if option is not None else (BRANCH_MAX_AGE, os.environ.get(BRANCH_MAX_AGE, ""))
    try:
        return parse_duration(value or DEFAULT_BRANCH_MAX_AGE)
    except ValueError:
        raise _bad(name, value, "a duration such as 30m, 1h, 2d or 0 (always fetch)") from None


def cache_limit_text() -> str | None:
    """The raw cache limit the environment sets, if any (the command-line option wins over it)."""
    value = os.environ.get(CACHE_LIMIT, "")
    if not value.strip():
        return None
    try:
        parse_size(value)
    except ValueError:
        raise _bad(CACHE_LIMIT, value, "a size such as 20GB, 500MB or 0 for no limit") from None
    return value


CHECKS: tuple[Callable[[], object], ...] = (cache_root, pull_timeout_s, volume_prefix, cache_limit_text, branch_max_age_s)


def check() -> None:
    """Read every setting, so that a bad value stops a command before it starts any work."""
    for read in CHECKS:
        read()
