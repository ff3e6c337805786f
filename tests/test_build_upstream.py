"""`patcher build` of a real release, v3.5.5 from the bundle, for both platforms upstream
publishes: the controller cross-compiled for each, both binaries run (arm64 under qemu-user), the
index pushed to a real registry on loopback and read back, and the kustomize overlay it writes
applied (server-side, dry run) to a real API server, which accepts the release's CRDs and every
object, the Deployment running the patched image by digest, the one the Helm values name."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from patcher.delivery import helmvalues
from tests import gotools, localregistry
from tests.runner_support import TEST_VOLUME_PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.docker]

RELEASE = "v3.5.5"
REPOSITORY, TAG = "argo/workflow-controller", "v3.5.5-fix12945"


@pytest.fixture(scope="module")
def built(upstream_repo: Path, tmp_path_factory: pytest.TempPathFactory, docker_daemon: Any, go_image: str) -> Iterator[dict[str, Any]]:
    """The build the README shows, pushed to a local registry (when there is one)."""
    root = tmp_path_factory.mktemp("build-v355")
    out = root / "dist"
    env = {**os.environ, "ARGO_PATCHER_CACHE": str(root / "cache"), "ARGO_PATCHER_VOLUME_PREFIX": TEST_VOLUME_PREFIX, "COLUMNS": "200"}
    (root / "registry").mkdir()
    with contextlib.ExitStack() as stack:
        address = stack.enter_context(localregistry.serving(root / "registry")) if shutil.which("docker-registry") else None
        push = ["--push", f"{address}/{REPOSITORY}:{TAG}"] if address else []
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "build", "--version", RELEASE, "--platform", "linux/amd64,linux/arm64",
             "--output", str(out), "--runner", "docker", "--image", go_image, *push],
            capture_output=True, text=True, env=env, timeout=3600,
        )  # fmt: skip
        print(f"patcher build {RELEASE} for two platforms: {time.monotonic() - started:.0f}s, exit code {done.returncode}\n{done.stderr}")
        served = localregistry.platforms_served(address, REPOSITORY, TAG) if address and done.returncode == 0 else None
    assert done.returncode == 0, done.stderr[-5000:]
    [entry] = json.loads((out / "oci" / "index.json").read_text())["manifests"]
    try:
        yield {"done": done, "out": out, "address": address, "served": served, "digest": entry["digest"]}
    finally:
        with contextlib.suppress(Exception):
            docker_daemon.images.remove(done.stdout.strip(), force=True)


def test_both_platforms_binaries_run_and_say_what_they_are(built):
    out = built["out"]
    amd64 = subprocess.run([str(out / "workflow-controller-linux-amd64"), "version"], capture_output=True, text=True, timeout=60)
    assert amd64.returncode == 0 and "workflow-controller: v3.5.5" in amd64.stdout and "Platform: linux/amd64" in amd64.stdout, amd64.stderr
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        pytest.skip("no qemu-aarch64-static (Debian's qemu-user-static) to run the arm64 binary with")
    helped = subprocess.run([qemu, str(out / "workflow-controller-linux-arm64"), "--help"], capture_output=True, text=True, timeout=120)
    print(f"qemu-aarch64-static workflow-controller-linux-arm64 --help: rc {helped.returncode}\n{helped.stdout[:400]}")
    assert helped.returncode == 0 and "workflow-controller [flags]" in helped.stdout, helped.stderr
    arm64 = subprocess.run([qemu, str(out / "workflow-controller-linux-arm64"), "version"], capture_output=True, text=True, timeout=120)
    assert "workflow-controller: v3.5.5" in arm64.stdout and "Platform: linux/arm64" in arm64.stdout  # the Makefile's stamp, for arm64


def test_the_registry_serves_the_index_and_both_platforms(built):
    if built["address"] is None:
        pytest.skip("no docker-registry (Debian's docker-registry package) to push to")
    digest, configs = built["served"]
    assert digest == built["digest"]
    assert {name: (c["architecture"], c["config"]["Labels"]["org.opencontainers.image.version"]) for name, c in configs.items()} == {
        "linux/amd64": ("amd64", RELEASE), "linux/arm64": ("arm64", RELEASE)
    }


@pytest.mark.cluster
def test_the_overlay_is_accepted_by_a_real_api_server_and_runs_the_patched_image(built, cluster_assets: Any, tmp_path: Path):
    from patcher.cluster.controlplane import ControlPlane

    kubectl = str(gotools.kubectl_for_tests())
    out = built["out"]
    image = f"{built['address']}/{REPOSITORY}" if built["address"] else "argo-patcher/workflow-controller"  # pushed, else the default name
    with ControlPlane(cluster_assets, tmp_path / "plane", "build-dry-run") as plane:
        plane.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argo"}})  # as the overlay's header says
        started = time.monotonic()
        done = subprocess.run(
            [kubectl, "--kubeconfig", str(plane.kubeconfig), "apply", "--server-side", "--dry-run=server", "-k", str(out / "kustomize"), "-o", "json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        print(f"kubectl apply --server-side --dry-run=server -k: rc {done.returncode} in {time.monotonic() - started:.1f}s\n{done.stderr[-600:]}")
    assert done.returncode == 0, done.stderr
    accepted = json.loads(done.stdout)
    items = accepted["items"] if accepted.get("kind") == "List" else [accepted]
    kinds = {(i["kind"], i["metadata"]["name"]) for i in items}
    assert ("CustomResourceDefinition", "workflows.argoproj.io") in kinds and ("CustomResourceDefinition", "workflowtemplates.argoproj.io") in kinds
    [deployment] = [i for i in items if i["kind"] == "Deployment" and i["metadata"]["name"] == "workflow-controller"]
    assert deployment["metadata"]["namespace"] == "argo"
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{image}@{built['digest']}"
    server = next(i for i in items if i["kind"] == "Deployment" and i["metadata"]["name"] == "argo-server")
    assert server["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/argoproj/argocli:v3.5.5"
    values = yaml.safe_load((out / "helm-values.yaml").read_text())
    in_chart = image if built["address"] else f"docker.io/{image}"
    assert helmvalues.rendered_image(values) == f"{in_chart}:{TAG}@{built['digest']}"  # the overlay's name and digest, with the tag the chart wants
