"""The matrix for other machines to run: a CI job matrix, or an Argo Workflow for a cluster.

The Workflow runs one pod per release from argo-patcher's own image (``patcher image build
--self``), each ``patcher apply`` with the local runner (a pod has no Docker daemon; the image
has Go), and hands each pod's JSON report on as an output parameter. Argo aggregates a fan-out's
output parameters into one JSON list, which the gather step receives as a file (a raw input
artifact, so no artifact repository is needed) and merges with ``patcher report merge``: its
log shows the table, its exit status is the matrix's, its ``report`` output holds the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from patcher import __version__, ui
from patcher.errors import InputError
from patcher.store import UPSTREAM_URL, RepoSource
from patcher.versions import Release

FORMATS = ("github-matrix", "argo-workflow")
DEFAULT_SELF_IMAGE = f"argo-patcher:{__version__}"
REPORT_PATH = "/tmp/out/report.json"
GATHERED_PATH = "/tmp/in/reports.json"
# What one pod needs for `go test` of Argo's controller package (see matrix.JOB_MEMORY_BYTES).
POD_REQUESTS = {"cpu": "2", "memory": "3Gi"}


def render(fmt: str, releases: Sequence[Release], *, repo: str, options: Any = None, jobs: int | None = None) -> str:
    """The matrix in ``fmt`` (one of FORMATS), as text to print; ``options`` are the matrix's
    ``ProveOptions``, passed on to a Workflow's pods."""
    if fmt == "github-matrix":
        return github_matrix(releases)
    if fmt == "argo-workflow":
        args = apply_args(options) if options is not None else []
        return to_yaml(argo_workflow(releases, repo=workflow_repo(repo), apply_args=args, parallelism=jobs))
    raise InputError(f"--emit {fmt}: expected one of {', '.join(FORMATS)}")


def workflow_repo(repo: str) -> str:
    """What the pods clone: ``repo`` when it is a URL; a local path means nothing in a pod."""
    if RepoSource.parse(repo).is_local:
        ui.warn(f"--repo {repo} is a local path; the workflow's pods clone {UPSTREAM_URL} instead (submit it with -p repo=URL to change that)")
        return UPSTREAM_URL
    return repo


def apply_args(options: Any) -> list[str]:
    """The ``patcher apply`` options that carry a matrix's ``ProveOptions`` to its pods. Not the
    runner, image or offline choices of this machine: a pod runs its image's Go, with a fresh cache."""
    args = ["--suite", options.suite]
    if not options.baseline:
        args.append("--no-baseline")
    if options.timeout_s != type(options)().timeout_s:
        args += ["--timeout", f"{options.timeout_s:g}"]
    return args


def github_matrix(releases: Sequence[Release]) -> str:
    """``{"include": [{"version": "v3.5.5", "line": "v3.5"}, ...]}`` for ``strategy.matrix``."""
    include = [{"version": r.tag, "line": f"v{r.line[0]}.{r.line[1]}"} for r in releases]
    return json.dumps({"include": include}, separators=(",", ":"))


def argo_workflow(
    releases: Sequence[Release],
    *,
    repo: str,
    apply_args: Sequence[str] = (),
    image: str = DEFAULT_SELF_IMAGE,
    parallelism: int | None = None,
) -> dict[str, Any]:
    """A Workflow proving ``releases`` one pod each, then merging their reports."""
    spec: dict[str, Any] = {
        "entrypoint": "matrix",
        "arguments": {"parameters": [{"name": "image", "value": image}, {"name": "repo", "value": repo}]},
    }
    if parallelism:
        spec["parallelism"] = parallelism
    spec["templates"] = [_matrix([r.tag for r in releases]), _prove(list(apply_args)), _gather()]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "argo-patcher-matrix-", "labels": {"app.kubernetes.io/name": "argo-patcher"}},
        "spec": spec,
    }


def _matrix(versions: list[str]) -> dict[str, Any]:
    prove = {
        "name": "prove",
        "template": "prove",
        "arguments": {"parameters": [{"name": "version", "value": "{{item}}"}]},
        "withItems": versions,
        # A release that fails must not stop the gathering: the merged report judges them all.
        "continueOn": {"failed": True},
    }
    gather = {
        "name": "gather",
        "template": "gather",
        "arguments": {"parameters": [{"name": "reports", "value": "{{steps.prove.outputs.parameters.report}}"}]},
    }
    return {"name": "matrix", "steps": [[prove], [gather]]}


def _prove(apply_args: list[str]) -> dict[str, Any]:
    missing = json.dumps({"version": "{{inputs.parameters.version}}", "message": "the pod wrote no report; see its log"})
    return {
        "name": "prove",
        "inputs": {"parameters": [{"name": "version"}]},
        "outputs": {"parameters": [{"name": "report", "valueFrom": {"path": REPORT_PATH, "default": missing}}]},
        "container": {
            "image": "{{workflow.parameters.image}}",
            "command": ["patcher"],
            "args": ["--repo", "{{workflow.parameters.repo}}", "apply", "--version", "{{inputs.parameters.version}}",
                     "--runner", "local", *apply_args, "--json", REPORT_PATH],
            "resources": {"requests": dict(POD_REQUESTS)},
        },
    }


def _gather() -> dict[str, Any]:
    return {
        "name": "gather",
        "inputs": {
            "parameters": [{"name": "reports"}],
            "artifacts": [{"name": "reports", "path": GATHERED_PATH, "raw": {"data": "{{inputs.parameters.reports}}"}}],
        },
        "outputs": {"parameters": [{"name": "report", "valueFrom": {"path": REPORT_PATH}}]},
        "container": {
            "image": "{{workflow.parameters.image}}",
            "command": ["patcher"],
            "args": ["report", "merge", GATHERED_PATH, "--json", REPORT_PATH],
        },
    }


def to_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
