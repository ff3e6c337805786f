"""What one invocation shares between its steps: the cache, the source and its mirror."""

from __future__ import annotations

import functools

from patcher.checkout import Workspace
from patcher.errors import InputError
from patcher.store import Mirror, RepoSource, Store
from patcher.versions import Release


class Session:
    def __init__(self, repo: str, store: Store | None = None) -> None:
        self.repo = repo
        self.store = store or Store()

    @functools.cached_property
    def mirror(self) -> Mirror:
        return self.store.mirror(RepoSource.parse(self.repo))

    def resolve(self, spec: str, *, pre: bool = False, refresh: bool = False) -> list[Release]:
        """The releases ``spec`` names, once the repository is known to be Argo Workflows."""
        releases = self.mirror.resolve(spec, pre=pre, refresh=refresh)
        self.mirror.require_argo()
        return releases

    def resolve_one(self, version: str, *, pre: bool = False, refresh: bool = False) -> Release:
        """The single Argo release ``version`` names (a tag, a line or 'latest')."""
        releases = self.resolve(version, pre=pre, refresh=refresh)
        if len(releases) != 1:
            shown = ", ".join(r.tag for r in releases[:5]) + (" ..." if len(releases) > 5 else "")
            raise InputError(f"--version {version} names {len(releases)} releases ({shown}); name one, or use 'patcher matrix'")
        return releases[0]

    def workspace(self, *, keep: bool = False) -> Workspace:
        return Workspace(self.mirror, keep=keep)
