"""The matrix for other machines to run: a CI job matrix, or an Argo Workflow for a cluster.

The Workflow runs one pod per release from argo-patcher's own image (``patcher image build
--self``), each ``patcher apply`` with the local runner (a pod has no Docker daemon; the image
has Go), and hands each pod's JSON report on as an output parameter. The gather step receives
them all as a file (a raw input artifact, so no artifact repository is needed) and merges them
with ``patcher report``: its log shows the table, its exit status is the matrix's (so a
failed release fails the Workflow), its ``report`` output holds the JSON.

Argo aggregates a fan-out's outputs from its Succeeded pods only (every release v3.4 to v4.1),
so a prove pod that exited 1 would drop its release from the gathered list, and with every pod
failed ``steps.prove.outputs.parameters.report`` would not resolve at all. Hence each prove pod
writes its report and succeeds (``--exit-zero``), the gather step takes the aggregate that is
always set (``steps.prove.outputs.parameters``, ``[]`` when no pod succeeded), and
``--expect`` makes a release whose pod ended without a report (killed, evicted) an infra-error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import yaml

from patcher import ui
from patcher.delivery import selfimage
from patcher.errors import InputError
from patcher.options import ProveOptions
from patcher.source.mirrors import UPSTREAM_URL, RepoSource
from patcher.source.versions import Release

FORMATS = ("github-matrix", "argo-workflow")
REPORT_PATH = "/tmp/out/report.json"
GATHERED_PATH = "/tmp/in/reports.json"
# What one pod needs for `go test` of Argo's controller package (see matrix.JOB_MEMORY_BYTES).
POD_REQUESTS = {"cpu": "2", "memory": "3Gi"}
GATHER_REQUESTS = {"cpu": "100m", "memory": "256Mi"}
# A prove pod clones, downloads modules and compiles cold before its two runs: time on top of them.
POD_SETUP_S = 30 * 60


def render(fmt: str, releases: Sequence[Release], *, repo: str, options: ProveOptions | None, jobs: int) -> str:
    """The matrix in ``fmt`` (one of FORMATS), as text to print; ``options`` are the matrix's
    ``ProveOptions`` (None with --no-test), passed on to a Workflow's pods, ``jobs`` its parallelism."""
    if fmt == "github-matrix":
        return github_matrix(releases)
    if fmt == "argo-workflow":
        return to_yaml(argo_workflow(releases, repo=workflow_repo(repo), apply_args=apply_args(options), parallelism=jobs,
                                     pod_deadline_s=pod_deadline_s(options)))
    raise InputError(f"--emit {fmt}: expected one of {', '.join(FORMATS)}")


def pod_deadline_s(options: ProveOptions | None) -> int:
    """How long one prove pod may run: its runs' timeouts (two with a baseline) and the setup."""
    if options is None:
        return POD_SETUP_S
    return int(POD_SETUP_S + options.timeout_s * (2 if options.baseline else 1))


def workflow_repo(repo: str) -> str:
    """What the pods clone: ``repo`` when it is a URL; a local path means nothing in a pod."""
    if RepoSource.parse(repo).is_local:
        ui.warn(f"--repo {repo} is a local path; the workflow's pods clone {UPSTREAM_URL} instead (submit it with -p repo=URL to change that)")
        return UPSTREAM_URL
    return repo


def apply_args(options: ProveOptions | None) -> list[str]:
    """The ``patcher apply`` options that carry a matrix's ``ProveOptions`` to its pods. Not the
    runner, image or offline choices of this machine: a pod runs its image's Go, with a fresh cache;
    nor --cluster: a pod cannot make the private network a control plane runs in."""
    if options is None:
        return ["--no-test"]
    if options.cluster or options.node:
        ui.warn("--cluster is not passed on to the Workflow's pods: a pod cannot give a control plane a network of its own")
    return [arg for arg in options.command_line() if arg not in ("--cluster", "--cluster=node")]


def github_matrix(releases: Sequence[Release]) -> str:
    """``{"include": [{"version": "v3.5.5", "line": "v3.5"}, ...]}`` for ``strategy.matrix``."""
    include = [{"version": r.name, "line": f"v{r.line[0]}.{r.line[1]}" if r.line else r.name} for r in releases]
    return json.dumps({"include": include}, separators=(",", ":"))


def argo_workflow(
    releases: Sequence[Release],
    *,
    repo: str,
    apply_args: Sequence[str] = (),
    image: str = selfimage.DEFAULT_TAG,
    parallelism: int,
    pod_deadline_s: int = POD_SETUP_S,
) -> dict[str, Any]:
    """A Workflow proving ``releases`` one pod each, ``parallelism`` at a time, then merging
    their reports; its deadline lets every wave of pods run to their own deadline."""
    versions = [r.name for r in releases]
    waves = math.ceil(len(versions) / max(1, parallelism))
    spec: dict[str, Any] = {
        "entrypoint": "matrix",
        "arguments": {"parameters": [{"name": "image", "value": image}, {"name": "repo", "value": repo}]},
        "parallelism": parallelism,
        "activeDeadlineSeconds": waves * pod_deadline_s + POD_SETUP_S,
    }
    spec["templates"] = [_matrix(versions), _prove(list(apply_args), pod_deadline_s), _gather(versions)]
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
        # A pod that fails or errs anyway (killed, evicted) must not stop the gathering: the
        # merged report judges every release, and --expect names the ones without a report.
        "continueOn": {"failed": True, "error": True},
    }
    gather = {
        "name": "gather",
        "template": "gather",
        "arguments": {"parameters": [{"name": "reports", "value": "{{steps.prove.outputs.parameters}}"}]},
    }
    return {"name": "matrix", "steps": [[prove], [gather]]}


def _prove(apply_args: list[str], deadline_s: int) -> dict[str, Any]:
    missing = json.dumps({"version": "{{inputs.parameters.version}}", "error": "infra", "message": "the pod wrote no report; see its log"})
    return {
        "name": "prove",
        # A template's deadline is an IntOrString (the Workflow's is an integer): Argo's schema
        # types it as a string, which the CRD and the controller also accept.
        "activeDeadlineSeconds": str(deadline_s),
        "inputs": {"parameters": [{"name": "version"}]},
        "outputs": {"parameters": [{"name": "report", "valueFrom": {"path": REPORT_PATH, "default": missing}}]},
        "container": {
            "image": "{{workflow.parameters.image}}",
            "command": ["patcher"],
            "args": ["--repo", "{{workflow.parameters.repo}}", "apply", "--version", "{{inputs.parameters.version}}",
                     "--runner", "local", *apply_args, "--json", REPORT_PATH, "--exit-zero"],
            "resources": {"requests": dict(POD_REQUESTS)},
        },
    }


def _gather(versions: list[str]) -> dict[str, Any]:
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
            "args": ["report", GATHERED_PATH, "--expect", ",".join(versions), "--json", REPORT_PATH],
            "resources": {"requests": dict(GATHER_REQUESTS)},
        },
    }


def to_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
