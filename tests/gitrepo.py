"""Throwaway git repositories shaped like Argo's, built from our own small files."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}

# Just enough for a repository to pass as Argo Workflows; the shapes the patch needs live in
# tests/resources and are added by the tests that need them.
ARGO_MARKER_FILES = {
    "go.mod": "module github.com/example/argo-like/v3\n\ngo 1.21\n",
    "workflow/controller/workflowpod.go": "package controller\n",
}


def git(cwd: Path, *args: str, input: str | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, input=input, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def copy_tree(source: Path) -> dict[str, str]:
    """A resource folder's files, as a name → text mapping for ``make_repo``."""
    return {str(p.relative_to(source)): p.read_text() for p in sorted(source.rglob("*")) if p.is_file()}


def make_repo(
    path: Path,
    tags: Iterable[str],
    files: Mapping[str, str] | None = None,
    *,
    files_for: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """A non-bare repository with one commit per tag, in order.

    Every commit writes ``files`` (default: the Argo marker files), then ``files_for[tag]``,
    and a RELEASE file naming the tag, so each tag has its own commit.
    """
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for tag in tags:
        write_files(path, ARGO_MARKER_FILES if files is None else files)
        write_files(path, (files_for or {}).get(tag, {}))
        write_files(path, {"RELEASE": tag + "\n"})
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"release {tag}")
        git(path, "tag", tag)
    return path


def add_release(path: Path, tag: str, files: Mapping[str, str] | None = None) -> None:
    write_files(path, {**(files or {}), "RELEASE": tag + "\n"})
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", f"release {tag}")
    git(path, "tag", tag)


def bare_clone(source: Path, path: Path) -> Path:
    git(source.parent, "clone", "-q", "--bare", str(source), str(path))
    return path
