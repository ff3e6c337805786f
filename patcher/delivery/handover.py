"""Handing a patched tree over: as a diff, as a ``git am``-able mbox, or as a branch commit.

``TreeHandOver`` is what the pipeline calls, once a release's proof is known, for ``--output``,
``--keep`` and ``--commit-to``; ``patch_text`` is ``patcher diff``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import git

from patcher import ui
from patcher.errors import InputError
from patcher.harness import fixture
from patcher.options import DeliverOptions
from patcher.patching.gotree import GoTree
from patcher.run import pipeline
from patcher.runners import gofmt
from patcher.session import Session
from patcher.source import gitcmd, versions
from patcher.source.versions import Release

FALLBACK_AUTHOR = ("argo-patcher", "argo-patcher@users.noreply.github.com")
# Argo's cherry-pick automation names its branches so; a maintainer's backport fits in.
BRANCH_NAMING = "cherry-pick-<PR>-to-release-<X.Y>"


CHANGE = """Pods created for a template reached through templateRef ignored the podMetadata
of the WorkflowTemplate or ClusterWorkflowTemplate that defines the template,
and releases that copied it into the template's own metadata let it outrank the
workflow's podMetadata. The controller now applies, lowest first:

1. the podMetadata of the template's holder (the innermost WorkflowTemplate or
   ClusterWorkflowTemplate defining it; none for the Workflow's own templates),
2. the workflow's podMetadata (the Workflow's own over its workflowTemplateRef
   target's, over the controller's workflowDefaults),
3. the template's own metadata.

The holder is found from the node being created; templates held in the
informer caches are no longer modified."""


def change_description() -> str:
    """What the patch changes, as the commit message and a pull request's body say it."""
    return CHANGE


ISSUE = 12945
# Upstream's conventional commit title of a fix (its release notes are made from them); the
# squash merge appends " (#PR)". A backport adds " (cherry-pick #PR for X.Y)", as upstream's
# cherry-pick automation and its maintainers title them.
TITLE = f"fix(controller): apply templateRef holders' podMetadata beneath the workflow's. Fixes #{ISSUE}"
TESTS = """It adds the regression test to the tests of what it changes:
TestTemplateRefPodMetadataPrecedence and
TestTemplateRefPodMetadataLeavesTheHolderUnmodified in
workflow/controller/operator_workflow_template_ref_test.go, and
TestGetTemplateFromRefToAMissingTemplateOfAHolderWithPodMetadata in
workflow/templateresolution/context_test.go."""


def commit_title(ref: str, upstream_pr: int | None = None) -> str:
    """The change's title on ``ref``: upstream's form, with ``(cherry-pick #N for X.Y)`` for a
    backport of the upstream pull request ``upstream_pr``."""
    if upstream_pr is None:
        return TITLE
    line = versions.line_of(ref)
    if line is None:
        raise InputError(f"--upstream-pr names the pull request {ref} is a backport of; {ref} is on no release line (release-X.Y, vX.Y.Z)")
    return f"{TITLE} (cherry-pick #{upstream_pr} for {line[0]}.{line[1]})"


def commit_message(release: Release, *, with_harness: bool, with_test: bool = True, upstream_pr: int | None = None) -> str:
    parts = [commit_title(release.name, upstream_pr), "", CHANGE]
    if with_test:
        parts += ["", TESTS]
    if with_harness:
        parts += ["", "The commit also adds argo-patcher's precedence harness\n(workflow/controller/zz_argo_patcher_precedence_test.go), one subtest per case."]
    if upstream_pr is not None:
        parts += ["", f"Cherry-picked from #{upstream_pr}."]
    parts += ["", f"Fixes #{ISSUE}"]
    return "\n".join(parts) + "\n"


def stage_all(tree: Path) -> None:
    """Stage every change, new files included, so diffs and commits see them."""
    with gitcmd.failures_as(f"staging the patch in {tree}"):
        gitcmd.command(tree).add("--all")


def diff(tree: Path) -> str:
    """The tree's changes against its checkout, as a git-style diff ``git apply`` accepts."""
    stage_all(tree)
    with gitcmd.failures_as("writing the diff"):
        text = gitcmd.command(tree).diff("--cached", "--no-color", "--no-ext-diff", "--full-index", stdout_as_string=True)
    return text + "\n" if text and not text.endswith("\n") else text


def commit(tree: Path, message: str, *, signoff: bool = False) -> str:
    """Record the tree's changes as a commit on its detached HEAD; return the commit id.

    ``signoff`` adds the ``Signed-off-by:`` trailer of the user's git identity (Argo requires the
    DCO sign-off); without one configured it is refused, since only a person can sign off."""
    stage_all(tree)
    runner = gitcmd.command(tree)
    identity = _identity(runner)
    if identity is None:
        if signoff:
            raise InputError("--signoff needs your git identity: set it with `git config --global user.name NAME` and `git config --global user.email EMAIL`")
        identity = FALLBACK_AUTHOR
    runner.update_environment(
        GIT_AUTHOR_NAME=identity[0], GIT_AUTHOR_EMAIL=identity[1], GIT_COMMITTER_NAME=identity[0], GIT_COMMITTER_EMAIL=identity[1]
    )
    with gitcmd.failures_as("committing the patch"):
        runner.commit("--quiet", "--no-verify", *(["--signoff"] if signoff else []), "-m", message)
        return str(runner.rev_parse("HEAD"))


def check_signoff(session: Session) -> None:
    """Refuse ``--signoff`` before any work when there is no git identity to sign off with."""
    runner = gitcmd.command(git_dir=session.mirror.path)
    if _identity(runner) is None:
        raise InputError("--signoff needs your git identity: set it with `git config --global user.name NAME` and `git config --global user.email EMAIL`")


def mbox(tree: Path, message: str, *, signoff: bool = False) -> str:
    """The tree's changes as one ``git format-patch`` commit, ready for ``git am``."""
    commit(tree, message, signoff=signoff)
    with gitcmd.failures_as("formatting the patch"):
        text = gitcmd.command(tree).format_patch("-1", "--stdout", "--no-color", "HEAD", stdout_as_string=True)
    return text if text.endswith("\n") else text + "\n"


def check_new_branch(session: Session, branch: str) -> None:
    """Refuse, before any work, a ``--commit-to`` that could not be honoured: a remote --repo, a
    name git does not accept as a branch, a branch that exists (it is never moved)."""
    source = session.mirror.source
    if source.local_git_dir is None:
        raise InputError("--commit-to needs --repo to be a local repository")
    target = gitcmd.command(git_dir=source.local_git_dir)
    try:
        target.check_ref_format("--branch", branch)
    except git.GitCommandError:
        raise InputError(f"--commit-to {branch!r} is not a valid branch name") from None
    try:
        target.rev_parse("--verify", "--quiet", f"refs/heads/{branch}")
    except git.GitCommandError:
        return
    raise InputError(f"branch {branch} already exists in {source.location}; choose another --commit-to name")


def commit_to_branch(session: Session, tree: Path, branch: str, message: str, *, signoff: bool = False) -> str:
    """Commit the tree and create ``branch`` at it in the user's local repository.

    The user's work tree and index are not touched: the commit arrives by a fetch into a new
    ref. An existing branch is refused rather than moved.
    """
    check_new_branch(session, branch)
    source = session.mirror.source
    assert source.local_git_dir is not None  # check_new_branch refuses a remote --repo
    target = gitcmd.command(git_dir=source.local_git_dir)
    sha = commit(tree, message, signoff=signoff)
    with gitcmd.failures_as(f"recording the patch as branch {branch} in {source.location}"):
        target.fetch("--quiet", "--no-tags", os.fspath(tree), f"{sha}:refs/heads/{branch}")
    return sha


def _identity(runner: git.Git) -> tuple[str, str] | None:
    """The user's git identity (user.name, user.email), or None when it is not configured."""
    try:
        return str(runner.config("user.name")), str(runner.config("user.email"))
    except git.GitCommandError:
        return None


class TreeHandOver:
    """The patched tree as asked: kept with the harness only if asked for, and recorded on a
    branch only once its proof passed and when there is something to record."""

    def check(self, session: Session, options: DeliverOptions, releases: Sequence[Release]) -> None:
        for release in releases:
            commit_title(release.name, options.upstream_pr)  # --upstream-pr needs a release line
        if options.commit_to:
            check_new_branch(session, options.commit_to)
        if options.signoff:
            check_signoff(session)

    def hand_over(
        self, session: Session, release: Release, tree: Path, options: DeliverOptions, *, proven: bool, already_patched: bool
    ) -> dict[str, Any]:
        if not options.with_harness:
            fixture.remove(tree)
        elif not fixture.path(tree).exists():
            fixture.write(tree, fixture.render_for(GoTree(tree), gofmt.for_tree(tree)))
        title = commit_title(release.name, options.upstream_pr)
        made: dict[str, Any] = {"title": title, "signed_off": False}
        if not options.commit_to:
            return made
        if not proven:
            ui.warn(f"{release} did not pass its proof; branch {options.commit_to} was not created")
            return made
        if already_patched and not options.with_harness:
            ui.info(f"{release} already carries the fix: nothing to commit, branch {options.commit_to} was not created")
            return made
        message = commit_message(release, with_harness=options.with_harness, upstream_pr=options.upstream_pr)
        sha = commit_to_branch(session, tree, options.commit_to, message, signoff=options.signoff)
        ui.info(f"recorded the patched {release} as branch {options.commit_to} ({sha[:12]}) in {session.mirror.source.location}")
        ui.info(f"pull request title: {title}")
        return {**made, "branch": options.commit_to, "commit": sha, "signed_off": options.signoff}


def patch_text(
    session: Session, release: Release, *, fmt: str, with_harness: bool, signoff: bool = False, fix_only: bool = False, upstream_pr: int | None = None
) -> str:
    """``patcher diff``: the change for ``release`` (the fix and its upstream-style test, or the
    fix alone) as a diff or an mbox, from the same plan a proof applies; empty when the release
    already carries the fix (and no harness is asked for)."""
    with session.workspace() as workspace:
        prepared = pipeline.prepare(workspace, release)
        tree = prepared.checkout.path
        if prepared.plan.already_patched:
            ui.info(f"{release} already carries the precedence fix; there is nothing to patch")
            if not with_harness:
                return ""
        prepared.change.apply(with_test=not fix_only)
        if with_harness:
            fixture.write(tree, fixture.render_for(prepared.plan.tree, gofmt.for_tree(prepared.plan.tree.root)))
        if fmt == "mbox":
            return mbox(tree, commit_message(release, with_harness=with_harness, with_test=not fix_only, upstream_pr=upstream_pr), signoff=signoff)
        return diff(tree)
