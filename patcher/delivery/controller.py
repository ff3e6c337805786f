"""Building a release's ``workflow-controller`` as its Makefile does, with a runner's Go and caches.

Upstream builds it with ``CGO_ENABLED=0 go build -ldflags '${LDFLAGS} -extldflags -static'
./cmd/workflow-controller``, LDFLAGS setting the module root package's ``version``,
``buildDate``, ``gitCommit``, ``gitTreeState`` and ``gitTag``. The module path comes from the
tree's go.mod (it moved from ``.../v3`` to ``.../v4``), never from the version string. The build
date is the commit's date rather than now, so that building the same tree again is a cache hit.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from patcher.patching import gomod
from patcher.runners import gotest
from patcher.runners.base import Runner

PACKAGE = "./cmd/workflow-controller"
UNKNOWN_DATE = "1970-01-01T00:00:00Z"


def ldflags(module: str, *, version: str, build_date: str, commit: str, tree_state: str, tag: str) -> str:
    variables = {"version": version, "buildDate": build_date, "gitCommit": commit, "gitTreeState": tree_state}
    if tag:
        variables["gitTag"] = tag
    return " ".join([*(f"-X {module}.{name}={value}" for name, value in variables.items()), "-extldflags -static"])


def tree_ldflags(tree: Path, release_tag: str) -> str:
    """The Makefile's LDFLAGS for ``tree``, a checkout of ``release_tag`` (patched or not)."""
    commit, date, dirty = _git_state(tree)
    return ldflags(
        gomod.read(tree).module, version=release_tag, build_date=date, commit=commit, tree_state="dirty" if dirty else "clean", tag=release_tag
    )


def build(
    runner: Runner, tree: Path, output_dir: Path, *, release_tag: str, timeout_s: float, run_id: str, for_tests: bool = False,
    target: Mapping[str, str] | None = None,
) -> Path:  # fmt: skip
    """Build the controller of ``tree`` into ``output_dir``; see ``Runner.build_binary``.

    ``for_tests``: a binary only the cluster proof runs, compiled as the test runs compile (no
    DWARF), so that it reuses every package they compiled instead of compiling them all again.
    ``target``: the GOOS and GOARCH (GOARM) to cross-compile for, as upstream's release workflow
    builds each platform's image."""
    gcflags = gotest.NO_DWARF_GCFLAGS if for_tests else ""
    ldflags = tree_ldflags(tree, release_tag)
    return runner.build_binary(tree, PACKAGE, output_dir, ldflags=ldflags, gcflags=gcflags, timeout_s=timeout_s, run_id=run_id, target=target)


def commit_date(tree: Path) -> str:
    """The date of the tree's commit (UTC, RFC 3339), the build date its binaries are stamped with."""
    return _git_state(tree)[1]


def _git_state(tree: Path) -> tuple[str, str, bool]:
    """The tree's commit, that commit's date (UTC, the Makefile's format) and whether files
    differ from it; ("unknown", the epoch, True) outside git."""
    env = {"TZ": "UTC", "GIT_OPTIONAL_LOCKS": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"}
    try:
        head = subprocess.run(
            ["git", "-C", str(tree), "log", "-1", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", "--format=%H %cd"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        status = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown", UNKNOWN_DATE, True
    if head.returncode != 0 or not head.stdout.strip():
        return "unknown", UNKNOWN_DATE, True
    commit, date = head.stdout.split()
    return commit, date, status.returncode != 0 or bool(status.stdout.strip())
