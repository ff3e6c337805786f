"""The single-release commands: ``patcher diff`` and ``patcher apply``."""

from __future__ import annotations

from pathlib import Path

from patcher import delivery, harness, patch, pipeline, reports, ui
from patcher.errors import ExitCode, InfraError, InputError
from patcher.progress import for_console
from patcher.results import Verdict
from patcher.session import Session
from patcher.versions import Release

FORMATS = ("diff", "mbox")


def diff(session: Session, release: Release, *, fmt: str, with_harness: bool) -> str:
    """The patch for ``release`` as a diff or an mbox; empty when the release already has it."""
    with session.workspace() as workspace:
        tree = workspace.checkout(release).path
        plan = patch.plan(tree)
        if plan.already_patched:
            ui.info(f"{release} already carries the precedence fix; there is nothing to patch")
            if not with_harness:
                return ""
        plan.apply()
        if with_harness:
            harness.write(tree)
        if fmt == "mbox":
            return delivery.mbox(tree, delivery.commit_message(release, with_harness=with_harness))
        return delivery.diff(tree)


def write_patched_tree(
    session: Session, release: Release, *, output: Path | None, keep: bool, commit_to: str | None, with_harness: bool
) -> Path:
    """``apply --no-test``: the patched tree of ``release``, kept at ``output`` (or a kept temp dir)."""
    with session.workspace(keep=keep) as workspace:
        checkout = workspace.checkout(release, into=output)
        plan = patch.plan(checkout.path)
        if plan.already_patched:
            ui.info(f"{release} already carries the precedence fix; its tree is left as it is")
        plan.apply()
        if with_harness:
            harness.write(checkout.path)
        if commit_to:
            message = delivery.commit_message(release, with_harness=with_harness)
            sha = delivery.commit_to_branch(session, checkout.path, commit_to, message)
            ui.info(f"recorded the patched {release} as branch {commit_to} ({sha[:12]}) in {session.mirror.source.location}")
        if not plan.already_patched:
            ui.info(f"patched {release} ({plan.shape_name}): {', '.join(plan.changed_files)}")
        return checkout.path


def prove(
    session: Session,
    release: Release,
    options: pipeline.ProveOptions,
    *,
    output: Path | None,
    keep: bool,
    commit_to: str | None,
    with_harness: bool,
    json_path: Path | None,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
) -> ExitCode:
    """``apply``: prove the patch on ``release`` and report case by case."""
    with session.workspace(keep=keep) as workspace, for_console([release]) as view:
        result = pipeline.prove_release(session, workspace, release, options, on_stage=view.stage, into=output)
        view.finish(release, result)
        if commit_to and result.ok and result.tree is not None:
            if not with_harness:
                harness.remove(result.tree)
            message = delivery.commit_message(release, with_harness=with_harness)
            sha = delivery.commit_to_branch(session, result.tree, commit_to, message)
            ui.info(f"recorded the patched {release} as branch {commit_to} ({sha[:12]})")
    files = {"json_path": json_path, "junit_path": junit_path, "markdown_path": markdown_path}
    if result.verdict is Verdict.PATCH_ERROR or (result.verdict is Verdict.INFRA_ERROR and not (result.baseline or result.patched)):
        reports.write([result], spec=release.tag, **files)  # a CI job's report says why, too
        error = InputError if result.verdict is Verdict.PATCH_ERROR else InfraError
        raise error(result.message or f"{release}: the tests could not run")
    reports.present([result], spec=release.tag, **files)
    return ExitCode.OK if result.ok else ExitCode.TESTS_FAILED if result.verdict is not Verdict.INFRA_ERROR else ExitCode.INFRA
