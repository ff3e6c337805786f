"""Argo release tags, and version specs resolved against them.

A spec is a comma-separated list whose items are unioned:

* ``v3.5.5`` (an exact tag), ``v3.5`` (the newest patch of that line), ``latest``;
* ``supported``: the newest patch of every release line from v3.4 on;
* a range, written as consecutive comparator clauses that are intersected:
  ``>=v3.5,<v3.7``.

Ordering and range matching are PEP 440's, through ``packaging``: ``v3.6.0-rc1`` is the
pre-release ``3.6.0rc1``, so ``<v3.7`` excludes v3.7's release candidates as one expects.
Release candidates take part only when ``pre`` is set.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterable, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from patcher.errors import InputError

TAG_PATTERN = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?$")
_LINE = re.compile(r"^v?(\d+)\.(\d+)$")
_EXACT = re.compile(r"^v?(\d+\.\d+\.\d+(?:-rc\d+)?)$")
_COMPARATOR = re.compile(r"^(>=|<=|==|!=|>|<)\s*v?(\d+(?:\.\d+){0,2}(?:-rc\d+)?)$")

SUPPORTED_FROM = Version("3.4")
SPEC_HELP = (
    "SPEC is a comma list of: an exact tag (v3.5.5), a release line (v3.5 = its newest "
    "patch), 'latest', 'supported' (the newest patch of every line from v3.4 on), or a "
    "range of comparator clauses ('>=v3.5,<v3.7')."
)
_EXPECTED = "expected a tag (v3.5.5), a line (v3.5), latest, supported or a range (>=v3.5,<v3.7)"


@dataclasses.dataclass(frozen=True, order=True)
class Release:
    version: Version
    tag: str = dataclasses.field(compare=False)

    @property
    def line(self) -> tuple[int, int]:
        return self.version.major, self.version.minor

    @property
    def is_prerelease(self) -> bool:
        return self.version.is_prerelease

    def __str__(self) -> str:
        return self.tag


class UnknownVersionError(InputError):
    """The spec is well formed but names releases the repository does not have (yet)."""


def parse_tag(tag: str) -> Release | None:
    if not TAG_PATTERN.match(tag):
        return None
    return Release(_pep440(tag), tag)


def releases_from_tags(tags: Iterable[str]) -> list[Release]:
    return sorted(r for r in map(parse_tag, tags) if r is not None)


def resolve(spec: str, releases: Sequence[Release], *, pre: bool = False) -> list[Release]:
    """The releases ``spec`` names, oldest first, without duplicates."""
    if not releases:
        raise UnknownVersionError("the repository has no release tags (vX.Y.Z); is it Argo Workflows?")
    releases = sorted(releases)
    chosen: set[Release] = set()
    for item in _items(spec):
        if isinstance(item, SpecifierSet):
            chosen.update(_resolve_range(item, releases, pre))
        else:
            chosen.update(_resolve_item(item, releases, pre))
    return sorted(chosen)


def _items(spec: str) -> list[str | SpecifierSet]:
    """Split a spec into plain items and ranges (runs of comparator clauses)."""
    parts = [p.strip() for p in spec.split(",")]
    if not spec.strip() or any(not p for p in parts):
        raise InputError(f"malformed version spec {spec!r}: an item is empty; {_EXPECTED}")
    items: list[str | SpecifierSet] = []
    clauses: list[str] = []
    for part in parts + [""]:
        match = _COMPARATOR.match(part)
        if match:
            clauses.append(match.group(1) + str(_pep440(match.group(2))))
            continue
        if clauses:
            try:
                items.append(SpecifierSet(",".join(clauses)))
            except InvalidSpecifier as exc:  # pragma: no cover - the pattern keeps them valid
                raise InputError(f"malformed version range in {spec!r}: {exc}") from None
            clauses = []
        if part:
            if not (part in ("latest", "supported") or _LINE.match(part) or _EXACT.match(part)):
                raise InputError(f"malformed version spec item {part!r}; {_EXPECTED}")
            items.append(part)
    return items


def _resolve_item(item: str, releases: Sequence[Release], pre: bool) -> list[Release]:
    candidates = [r for r in releases if pre or not r.is_prerelease]
    if item == "latest":
        if not candidates:
            raise UnknownVersionError("the repository has no final release; add --pre to use release candidates")
        return [candidates[-1]]
    if item == "supported":
        newest_per_line = {r.line: r for r in candidates if r.version >= SUPPORTED_FROM}
        if not newest_per_line:
            raise UnknownVersionError(f"the repository has no release from v{SUPPORTED_FROM} on")
        return list(newest_per_line.values())
    line = _LINE.match(item)
    if line:
        wanted = (int(line.group(1)), int(line.group(2)))
        in_line = [r for r in candidates if r.line == wanted]
        if not in_line:
            raise UnknownVersionError(
                f"no release in line v{wanted[0]}.{wanted[1]}; {_nearest_hint(Version(f'{wanted[0]}.{wanted[1]}'), releases)}"
            )
        return [in_line[-1]]
    tag = "v" + _EXACT.match(item).group(1)  # type: ignore[union-attr]
    for release in releases:
        if release.tag == tag:
            if release.is_prerelease and not pre:
                raise InputError(f"{tag} is a release candidate; add --pre to use it")
            return [release]
    raise UnknownVersionError(f"unknown release {tag}; {_nearest_hint(_pep440(tag), releases)}")


def _resolve_range(spec: SpecifierSet, releases: Sequence[Release], pre: bool) -> list[Release]:
    matched = [r for r in releases if spec.contains(r.version, prereleases=pre)]
    if not matched:
        newest = [r for r in releases if pre or not r.is_prerelease]
        hint = f"the newest is {newest[-1]}" if newest else "there are no final releases"
        raise UnknownVersionError(f"no release matches {_show(spec)}; {hint}")
    return matched


def nearest(version: Version, releases: Sequence[Release], count: int = 3) -> list[Release]:
    """The final releases closest to ``version`` in release order (its neighbours)."""
    finals = sorted(r for r in releases if not r.is_prerelease)
    at = bisect.bisect_left([r.version for r in finals], version)
    start = min(max(0, at - (count + 1) // 2), max(0, len(finals) - count))
    return finals[start : start + count]


def _nearest_hint(version: Version, releases: Sequence[Release]) -> str:
    close = nearest(version, releases)
    if not close:
        return "the repository has no final release"
    return "nearest: " + ", ".join(r.tag for r in close)


def _pep440(text: str) -> Version:
    return Version(text.lstrip("v").replace("-rc", "rc"))


def _show(spec: SpecifierSet) -> str:
    return ",".join(sorted((s.operator + "v" + s.version for s in spec), key=lambda c: c.lstrip("<>=!")))
