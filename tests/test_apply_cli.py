"""`patcher diff` and `patcher apply --no-test`, end to end through the CLI, on synthetic shapes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import gitrepo
from tests.goshapes import make_tree

SHAPE_OF_TAG = {"v3.5.0": "v3.5", "v3.7.0": "v3.7", "v4.0.0": "v4", "v4.1.0": "unknown"}


@pytest.fixture
def shaped_repo(tmp_path: Path) -> Path:
    """A repository whose releases carry the synthetic code of each shape."""
    files_for = {tag: gitrepo.copy_tree(make_tree(tmp_path / "shapes" / tag, shape)) for tag, shape in SHAPE_OF_TAG.items()}
    return gitrepo.make_repo(tmp_path / "argo", list(SHAPE_OF_TAG), files_for=files_for)


def clean_checkout(repo: Path, tag: str, where: Path) -> Path:
    gitrepo.git(repo, "worktree", "add", "-q", "--detach", str(where), tag)
    return where


@pytest.mark.parametrize("tag", ["v3.5.0", "v3.7.0", "v4.0.0"])
def test_diff_applies_to_a_clean_checkout_of_its_release(shaped_repo, tmp_path, run_cli, tag):
    result = run_cli("--repo", str(shaped_repo), "diff", "--version", tag)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("diff --git a/workflow/")
    clean = clean_checkout(shaped_repo, tag, tmp_path / "clean")
    subprocess.run(["git", "apply", "--check", "-"], cwd=clean, input=result.stdout, text=True, check=True)
    touched = {line.split(" b/")[1] for line in result.stdout.splitlines() if line.startswith("diff --git")}
    fix = {"workflow/controller/workflowpod.go"} | ({"workflow/templateresolution/context.go"} if tag != "v3.5.0" else set())
    upstream_test = {"workflow/controller/operator_workflow_template_ref_test.go", "workflow/templateresolution/context_test.go"}
    assert touched == fix | upstream_test  # the fix and its upstream-style test, as upstream would merge them
    fix_only = run_cli("--repo", str(shaped_repo), "diff", "--version", tag, "--fix-only")
    assert {line.split(" b/")[1] for line in fix_only.stdout.splitlines() if line.startswith("diff --git")} == fix


def test_diff_with_harness_adds_the_harness_file(shaped_repo, run_cli):
    result = run_cli("--repo", str(shaped_repo), "diff", "--version", "v3.5.0", "--with-harness")
    assert result.returncode == 0, result.stderr
    assert "diff --git a/workflow/controller/zz_argo_patcher_precedence_test.go" in result.stdout
    assert "func TestPodMetadataPrecedence(t *testing.T)" in result.stdout


def test_mbox_is_a_backport_commit_for_git_am(shaped_repo, tmp_path, run_cli):
    result = run_cli("--repo", str(shaped_repo), "diff", "--version", "v3.7.0", "--format", "mbox")
    assert result.returncode == 0, result.stderr
    assert "Subject: [PATCH] fix(controller): " in result.stdout and "Fixes #12945" in result.stdout
    target = tmp_path / "target"
    gitrepo.git(tmp_path, "clone", "-q", str(shaped_repo), str(target))
    gitrepo.git(target, "checkout", "-q", "-b", "backport", "v3.7.0")
    gitrepo.git(target, "am", "-q", input=result.stdout)
    assert "templateHolderPodMetadata" in (target / "workflow/controller/workflowpod.go").read_text()


def test_an_unknown_shape_is_refused_in_one_line(shaped_repo, run_cli):
    result = run_cli("--repo", str(shaped_repo), "diff", "--version", "v4.1.0")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "addMetadata" in lines[0]


def test_apply_of_an_unknown_shape_still_writes_its_report(shaped_repo, tmp_path, run_cli):
    report = tmp_path / "report.json"
    result = run_cli("--repo", str(shaped_repo), "apply", "--version", "v4.1.0", "--json", str(report))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "addMetadata" in errors[0] and "Traceback" not in result.stderr
    [release] = json.loads(report.read_text())["results"]
    assert release["verdict"] == "input-error" and release["error"] == "input" and "addMetadata" in release["message"]


def test_unknown_version_is_one_line(shaped_repo, run_cli):
    result = run_cli("--repo", str(shaped_repo), "diff", "--version", "v9.9.9")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown release v9.9.9; nearest: v3.7.0, v4.0.0, v4.1.0"


def test_a_repository_that_is_not_argo(tmp_path, run_cli):
    repo = gitrepo.make_repo(tmp_path / "other", ["v1.0.0"], {"README.md": "hello\n"})
    result = run_cli("--repo", str(repo), "diff", "--version", "v1.0.0")
    assert result.returncode == 2
    assert "does not look like Argo Workflows" in result.stderr and "Traceback" not in result.stderr


def test_apply_no_test_writes_the_patched_tree(shaped_repo, tmp_path, run_cli):
    out = tmp_path / "out"
    result = run_cli("--repo", str(shaped_repo), "apply", "--version", "v4.0.0", "--no-test", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "templateHolderPodMetadata" in (out / "workflow/controller/workflowpod.go").read_text()
    assert not (out / "workflow/controller/zz_argo_patcher_precedence_test.go").exists()
    changed = gitrepo.git(out, "diff", "--name-only").splitlines()
    assert changed == [
        "workflow/controller/operator_workflow_template_ref_test.go",
        "workflow/controller/workflowpod.go",
        "workflow/templateresolution/context.go",
        "workflow/templateresolution/context_test.go",
    ]


def test_apply_on_a_patched_tree_changes_nothing_and_diff_is_empty(shaped_repo, tmp_path, run_cli):
    out = tmp_path / "out"
    assert run_cli("--repo", str(shaped_repo), "apply", "--version", "v3.7.0", "--no-test", "--output", str(out)).returncode == 0
    gitrepo.git(out, "add", "-A")
    gitrepo.git(out, "commit", "-q", "-m", "patched")
    gitrepo.git(out, "tag", "v3.7.1")
    gitrepo.git(out, "push", "-q", str(shaped_repo), "v3.7.1")

    result = run_cli("--repo", str(shaped_repo), "diff", "--version", "v3.7.1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "already carries the precedence fix" in result.stderr


def test_apply_commit_to_records_a_branch(shaped_repo, run_cli):
    head = gitrepo.git(shaped_repo, "rev-parse", "HEAD")
    result = run_cli("--repo", str(shaped_repo), "apply", "--version", "v3.5.0", "--no-test", "--commit-to", "backport/v3.5")
    assert result.returncode == 0, result.stderr
    assert "templateHolderPodMetadata" in gitrepo.git(shaped_repo, "show", "backport/v3.5:workflow/controller/workflowpod.go")
    assert gitrepo.git(shaped_repo, "rev-parse", "HEAD") == head
    again = run_cli("--repo", str(shaped_repo), "apply", "--version", "v3.5.0", "--no-test", "--commit-to", "backport/v3.5")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_apply_no_test_without_a_destination_checks_the_patch_and_keeps_nothing(shaped_repo, run_cli, isolated_cache):
    result = run_cli("--repo", str(shaped_repo), "apply", "--version", "v3.5.0", "--no-test", "--json", "-")
    assert result.returncode == 0, result.stderr
    [release] = json.loads(result.stdout)["results"]
    assert release["verdict"] == "patched" and release["baseline"] is None and release["patched"] is None
    assert "✓ v3.5.0  patched in" in result.stderr and "patched, not tested" in result.stderr


@pytest.mark.parametrize("command", ["versions", "diff", "apply", "matrix", "image", "cache", "report"])
def test_every_command_has_help(run_cli, command):
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: patcher")


# Shapes whose patched files need their imports reconciled (tests/goshapes.py).
IMPORT_SHAPE_OF_TAG = {"v3.7.2": "v3.7-apierr-sibling", "v3.7.3": "v3.7-apierr-nowhere", "v4.0.3": "v4.0"}
IMPORT_CHANGE_OF_TAG = {"v4.0.3": '-\t"maps"'}
GO = shutil.which("go")


def import_shaped_repo(tmp_path: Path, tag: str) -> Path:
    """A repository with the one release ``tag``: each commit of a repository keeps the files of
    the commits before it, and another shape's files would change what these shapes test."""
    files = gitrepo.copy_tree(make_tree(tmp_path / "shape", IMPORT_SHAPE_OF_TAG[tag]))
    return gitrepo.make_repo(tmp_path / "argo", [tag], files_for={tag: files})


@pytest.mark.parametrize("tag", sorted(IMPORT_CHANGE_OF_TAG))
def test_diff_reconciles_the_imports_of_the_patched_files(tmp_path, run_cli, tag):
    repo = import_shaped_repo(tmp_path, tag)
    result = run_cli("--repo", str(repo), "diff", "--version", tag, "--fix-only")
    assert result.returncode == 0, result.stderr
    context_diff = result.stdout[result.stdout.index("diff --git a/workflow/templateresolution/context.go") :]
    import_lines = [line for line in context_diff.splitlines() if line.startswith(("+\t", "-\t")) and line.endswith('"')]
    assert import_lines == [IMPORT_CHANGE_OF_TAG[tag]]
    clean = clean_checkout(repo, tag, tmp_path / "clean")
    subprocess.run(["git", "apply", "--check", "-"], cwd=clean, input=result.stdout, text=True, check=True)


@pytest.mark.go
@pytest.mark.skipif(GO is None, reason="no Go toolchain on PATH")
@pytest.mark.parametrize("tag", sorted(IMPORT_CHANGE_OF_TAG))
def test_the_diff_applied_to_a_clean_checkout_builds_and_vets(tmp_path, run_cli, tag):
    repo = import_shaped_repo(tmp_path, tag)
    # The fix alone: the synthetic module has no testify for the upstream-style test to build with.
    result = run_cli("--repo", str(repo), "diff", "--version", tag, "--fix-only")
    assert result.returncode == 0, result.stderr
    clean = clean_checkout(repo, tag, tmp_path / "clean")
    subprocess.run(["git", "apply", "-"], cwd=clean, input=result.stdout, text=True, check=True)
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOWORK": "off"}
    for command in (["build", "./..."], ["vet", "./..."]):
        done = subprocess.run([GO, *command], cwd=clean, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("tag", ["v3.7.2", "v3.7.3"])
def test_diff_refuses_a_patch_that_would_not_compile_in_one_line(tmp_path, run_cli, tag):
    repo = import_shaped_repo(tmp_path, tag)
    result = run_cli("--repo", str(repo), "diff", "--version", tag)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("error: the patched workflow/templateresolution/context.go would not compile: it uses apierr and does not import it")


def test_apply_no_test_refuses_a_patch_that_would_not_compile(tmp_path, run_cli):
    repo = import_shaped_repo(tmp_path, "v3.7.3")
    out = tmp_path / "out"
    result = run_cli("--repo", str(repo), "apply", "--version", "v3.7.3", "--no-test", "--output", str(out))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "it uses apierr and does not import it" in errors[0] and "Traceback" not in result.stderr
