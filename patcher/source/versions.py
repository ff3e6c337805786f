"""What a version spec names: Argo release tags, and any other git ref of the repository.

A spec is a comma-separated list whose items are unioned:

* ``v3.5.5`` (an exact tag), ``v3.5`` (the newest patch of that line), ``latest``;
* ``supported``: the newest patch of every release line from v3.4 on;
* a range, written as consecutive comparator clauses that are intersected:
  ``>=v3.5,<v3.7``;
* any other git ref: a tag, a branch (``release-3.7``, ``main``, a fork's ``team/argo-3.5``) or
  a commit id (7 or more hex digits). A name that is both is taken as a tag first, then as a
  branch, then as a commit. A branch is pinned to the commit it was when resolved.

Lines, ranges, ``latest`` and ``supported`` mean release tags only. Ordering and range matching
are PEP 440's, through ``packaging``: ``v3.6.0-rc1`` is the pre-release ``3.6.0rc1``, so ``<v3.7``
excludes v3.7's release candidates as one expects. Release candidates take part only when
``pre`` is set.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from patcher.errors import InputError

TAG_PATTERN = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?$")
_LINE = re.compile(r"^v?(\d+)\.(\d+)$")
_EXACT = re.compile(r"^v?(\d+\.\d+\.\d+(?:-rc\d+)?)$")
_COMPARATOR = re.compile(r"^(>=|<=|==|!=|>|<)\s*v?(\d+(?:\.\d+){0,2}(?:-rc\d+)?)$")

_RELEASE_BRANCH = re.compile(r"^release-(\d+)\.(\d+)$")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
# What git accepts in a ref name, roughly; git itself has the last word when the ref is looked up.
_REF_NAME = re.compile(r"^(?!-)(?!.*\.\.)[\w./@+-]+(?<![./])$")

SUPPORTED_FROM = Version("3.4")
SPEC_HELP = (
    "SPEC is a comma list of: an exact tag (v3.5.5), a release line (v3.5 = its newest "
    "patch), 'latest', 'supported' (the newest patch of every line from v3.4 on), a "
    "range of comparator clauses ('>=v3.5,<v3.7'), or any git ref of --repo: a branch "
    "(release-3.7, main), another tag, a commit id (7+ hex digits); tag first, then branch, then commit."
)
_EXPECTED = "expected a tag (v3.5.5), a line (v3.5), latest, supported, a range (>=v3.5,<v3.7), a branch or a commit id"


class RefKind(str, enum.Enum):
    TAG = "tag"
    BRANCH = "branch"
    COMMIT = "commit"


@functools.total_ordering
@dataclasses.dataclass(frozen=True)
class Release:
    """A tree to patch and prove: a release tag, a branch head or a commit, named as asked.

    ``version`` is a release tag's (vX.Y.Z); ``commit`` pins a branch or a commit id to the
    commit it was when the spec was resolved (a tag's commit is read when it is checked out)."""

    name: str
    kind: RefKind = RefKind.TAG
    version: Version | None = None
    commit: str = ""

    @property
    def line(self) -> tuple[int, int] | None:
        """The release line: a release tag's, or a release branch's (``release-3.7``)."""
        if self.version is not None:
            return self.version.major, self.version.minor
        match = _RELEASE_BRANCH.match(self.name) if self.kind is RefKind.BRANCH else None
        return (int(match.group(1)), int(match.group(2))) if match else None

    @property
    def is_prerelease(self) -> bool:
        return self.version is not None and self.version.is_prerelease

    @property
    def revision(self) -> str:
        """What git checks out: the tag's ref, or the pinned commit."""
        return f"refs/tags/{self.name}" if self.kind is RefKind.TAG else self.commit

    def _key(self) -> tuple[int, Version, str]:
        if self.version is not None:
            return (0, self.version, self.name)
        line = self.line
        return (1, Version(f"{line[0]}.{line[1]}"), self.name) if line else (2, Version("0"), self.name)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Release):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class Refs:
    """What a repository offers a spec: its release tags, every tag and branch by name (with
    the branch heads' commits), and a way to find a commit by a prefix of its id."""

    releases: Sequence[Release]
    tags: frozenset[str] = frozenset()
    branches: Mapping[str, str] = dataclasses.field(default_factory=dict)
    find_commit: Callable[[str], str | None] = lambda prefix: None


class UnknownVersionError(InputError):
    """The spec is well formed but names releases the repository does not have (yet)."""


def parse_tag(tag: str) -> Release | None:
    if not TAG_PATTERN.match(tag):
        return None
    return Release(tag, RefKind.TAG, _pep440(tag))


def releases_from_tags(tags: Iterable[str]) -> list[Release]:
    return sorted(r for r in map(parse_tag, tags) if r is not None)


def resolve(spec: str, refs: Refs | Sequence[Release], *, pre: bool = False) -> list[Release]:
    """The releases ``spec`` names, release tags oldest first then the other refs, without duplicates."""
    if not isinstance(refs, Refs):
        refs = Refs(list(refs), frozenset(r.name for r in refs))
    releases = sorted(refs.releases)
    chosen: set[Release] = set()
    for item in _items(spec):
        if isinstance(item, SpecifierSet):
            chosen.update(_resolve_range(item, _require_releases(releases), pre))
        elif _is_release_item(item):
            chosen.update(_resolve_item(item, _require_releases(releases), pre))
        else:
            chosen.add(_resolve_ref(item, refs))
    return sorted(chosen)


def _require_releases(releases: list[Release]) -> list[Release]:
    if not releases:
        raise UnknownVersionError("the repository has no release tags (vX.Y.Z); is it Argo Workflows?")
    return releases


def _is_release_item(item: str) -> bool:
    return item in ("latest", "supported") or bool(_LINE.match(item) or _EXACT.match(item))


def _resolve_ref(name: str, refs: Refs) -> Release:
    """A name that is no release spec: a tag, else a branch, else a commit id."""
    if name in refs.tags:
        release = parse_tag(name)
        return release if release is not None else Release(name, RefKind.TAG)
    if name in refs.branches:
        return Release(name, RefKind.BRANCH, commit=refs.branches[name])
    if _COMMIT.match(name):
        commit = refs.find_commit(name)
        if commit:
            return Release(name, RefKind.COMMIT, commit=commit)
        raise UnknownVersionError(f"unknown ref {name}: no tag, branch or commit has that name in the repository")
    close = difflib.get_close_matches(name, sorted(refs.tags | set(refs.branches)), n=3, cutoff=0.5)
    hint = f"nearest: {', '.join(close)}" if close else "see `git ls-remote --heads --tags` of --repo"
    raise UnknownVersionError(f"unknown ref {name}: no tag or branch has that name; {hint}")


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
            if not (_is_release_item(part) or _REF_NAME.match(part)):
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
        newest_per_line = {r.line: r for r in candidates if r.version is not None and r.version >= SUPPORTED_FROM}
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
    exact = _EXACT.match(item)
    assert exact is not None  # _is_release_item let it through
    tag = "v" + exact.group(1)
    for release in releases:
        if release.name == tag:
            if release.is_prerelease and not pre:
                raise InputError(f"{tag} is a release candidate; add --pre to use it")
            return [release]
    raise UnknownVersionError(f"unknown release {tag}; {_nearest_hint(_pep440(tag), releases)}")


def _resolve_range(spec: SpecifierSet, releases: Sequence[Release], pre: bool) -> list[Release]:
    matched = [r for r in releases if r.version is not None and spec.contains(r.version, prereleases=pre)]
    if not matched:
        newest = [r for r in releases if pre or not r.is_prerelease]
        hint = f"the newest is {newest[-1]}" if newest else "there are no final releases"
        raise UnknownVersionError(f"no release matches {_show(spec)}; {hint}")
    return matched


def line_of(name: str) -> tuple[int, int] | None:
    """The release line a ref's name says: a release tag's (v3.7.4) or a release branch's (release-3.7)."""
    release = parse_tag(name) or Release(name, RefKind.BRANCH)
    return release.line


MAINTAINED_LINES = 2  # upstream's docs/releases.md: "release branches for the most recent two minor releases"


def maintained_lines(releases: Sequence[Release]) -> list[str]:
    """The release lines upstream maintains, newest first (``["4.1", "4.0"]``): the newest two
    with a final release."""
    lines = sorted({r.line for r in releases if r.version is not None and not r.is_prerelease and r.line}, reverse=True)
    return [f"{major}.{minor}" for major, minor in lines[:MAINTAINED_LINES]]


def nearest(version: Version, releases: Sequence[Release], count: int = 3) -> list[Release]:
    """The final releases closest to ``version`` in release order (its neighbours)."""
    finals = sorted(r for r in releases if r.version is not None and not r.is_prerelease)
    at = bisect.bisect_left([r.version for r in finals if r.version is not None], version)
    start = min(max(0, at - (count + 1) // 2), max(0, len(finals) - count))
    return finals[start : start + count]


def _nearest_hint(version: Version, releases: Sequence[Release]) -> str:
    close = nearest(version, releases)
    if not close:
        return "the repository has no final release"
    return "nearest: " + ", ".join(r.name for r in close)


def _pep440(text: str) -> Version:
    return Version(text.lstrip("v").replace("-rc", "rc"))


def _show(spec: SpecifierSet) -> str:
    return ",".join(sorted((s.operator + "v" + s.version for s in spec), key=lambda c: c.lstrip("<>=!")))
