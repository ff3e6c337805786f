"""What one invocation shares between its steps: the cache, the source and its mirror."""

from __future__ import annotations

import functools

from patcher import settings
from patcher.errors import InputError
from patcher.source.checkout import Workspace
from patcher.source.mirrors import Mirror, RepoSource, Store
from patcher.source.versions import Release


class Session:
    def __init__(self, repo: str, store: Store | None = None, *, branch_max_age: str | None = None) -> None:
        self.repo = repo
        self.store = store or Store()
        self.branch_max_age = branch_max_age  # --branch-max-age, else the environment's, else an hour

    @functools.cached_property
    def mirror(self) -> Mirror:
        return self.store.mirror(RepoSource.parse(self.repo))

    def resolve(self, spec: str, *, pre: bool = False, refresh: bool = False) -> list[Release]:
        """The releases ``spec`` names, once the repository is known to be Argo Workflows."""
        max_age = settings.branch_max_age_s(self.branch_max_age)
        releases = self.mirror.resolve(spec, pre=pre, refresh=refresh, branch_max_age_s=max_age)
        self.mirror.require_argo()
        return releases

    def resolve_one(self, version: str, *, pre: bool = False, refresh: bool = False) -> Release:
        """The single tree ``version`` names (a tag, a line, 'latest', a branch or a commit)."""
        releases = self.resolve(version, pre=pre, refresh=refresh)
        if len(releases) != 1:
            shown = ", ".join(r.name for r in releases[:5]) + (" ..." if len(releases) > 5 else "")
            raise InputError(f"--version {version} names {len(releases)} releases ({shown}); name one, or use 'patcher matrix'")
        return releases[0]

    def workspace(self, *, keep: bool = False) -> Workspace:
        return Workspace(self.mirror, keep=keep)
