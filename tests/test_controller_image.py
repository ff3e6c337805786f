"""`patcher build`: the patched controller and an image operators deploy, for real with Docker, on a
synthetic release whose cmd/workflow-controller is a tiny program of ours that prints its help
and the version stamp the release's build flags give it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from patcher.delivery import controllerimage, helmvalues, platforms
from tests import gitrepo, gotools, localregistry
from tests.goshapes import make_tree
from tests.runner_support import TEST_VOLUME_PREFIX

VERSION_GO = """package argo

var (
	version   = "untagged"
	gitCommit = "unknown"
)

// Version is what the controller says it is: the build flags set both.
func Version() string { return version + "+" + gitCommit }
"""
MAIN_GO = """package main

import (
	"fmt"
	"os"

	argo "example.com/argo-workflows/v3"
)

func main() {
	for _, arg := range os.Args[1:] {
		switch arg {
		case "--help":
			fmt.Println("workflow-controller is the controller to operate on workflows")
			return
		case "--version":
			fmt.Println(argo.Version())
			return
		}
	}
	os.Exit(2)
}
"""


# A release workflow shaped as upstream's from v3.5 on: one job builds every image for both
# platforms; a job that builds only argoexec, for windows, does not count.
RELEASE_WORKFLOW = """
name: Release
on: {push: {tags: [v*]}}
jobs:
  build-linux:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        platform: [ linux/amd64, linux/arm64 ]
        target: [ workflow-controller, argocli, argoexec ]
    steps: [{run: "true"}]
  build-windows:
    runs-on: windows-2022
    strategy:
      matrix: {platform: [ windows/amd64 ], target: [ argoexec ]}
    steps: [{run: "true"}]
"""
# Install manifests shaped as upstream's: the controller's Deployment names :latest.
MANIFESTS = {
    "manifests/cluster-install/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: argo\nresources: [../base]\n",
    "manifests/base/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [workflow-controller/workflow-controller-deployment.yaml, argo-server/argo-server-deployment.yaml]\n"
    ),
    "manifests/quick-start/base/kustomization.yaml": "resources: []\n",
    "manifests/README.md": "upstream's\n",
}


def deployment(name: str, image: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n"
        f"  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n        - name: {name}\n          image: {image}\n"
        f"          command: [{name}]\n"
    )


@pytest.fixture(scope="module")
def release_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("release")
    files = gitrepo.copy_tree(make_tree(root / "shape", "v3.5"))
    files.update({"version.go": VERSION_GO, "cmd/workflow-controller/main.go": MAIN_GO})  # go.mod: the shape's, module example.com/argo-workflows/v3
    files.update({**MANIFESTS, ".github/workflows/release.yaml": RELEASE_WORKFLOW})
    files["manifests/base/workflow-controller/workflow-controller-deployment.yaml"] = deployment("workflow-controller", "quay.io/argoproj/workflow-controller:latest")
    files["manifests/base/argo-server/argo-server-deployment.yaml"] = deployment("argo-server", "quay.io/argoproj/argocli:latest")
    return gitrepo.make_repo(root / "argo", ["v3.5.0"], files_for={"v3.5.0": files})


TAG = "argo-patcher-test/workflow-controller:v3.5.0"
PUSHED = ("team/workflow-controller", "v3.5.0-fix")


@pytest.fixture(scope="module")
def built(release_repo: Path, tmp_path_factory: pytest.TempPathFactory, docker_daemon: Any, go_image: str) -> Iterator[dict[str, Any]]:
    """One `patcher build` of the synthetic release for both platforms, pushed to a real local
    registry when there is one; what it printed, wrote and what the registry then served."""
    root = tmp_path_factory.mktemp("build")
    out = root / "out"
    env = {**os.environ, "ARGO_PATCHER_CACHE": str(root / "cache"), "ARGO_PATCHER_VOLUME_PREFIX": TEST_VOLUME_PREFIX, "COLUMNS": "200"}
    command = [sys.executable, "-m", "patcher", "--repo", str(release_repo), "build", "--version", "v3.5.0", "--tag", TAG, "--output", str(out),
               "--runner", "docker", "--image", go_image]  # fmt: skip
    registry_dir = root / "registry"
    registry_dir.mkdir()
    with contextlib.ExitStack() as stack:
        address = stack.enter_context(localregistry.serving(registry_dir)) if shutil.which("docker-registry") else None
        push = ["--push", f"{address}/{PUSHED[0]}:{PUSHED[1]}"] if address else []
        done = subprocess.run([*command, *push], capture_output=True, text=True, env=env, timeout=900)
        served = localregistry.platforms_served(address, *PUSHED) if address and done.returncode == 0 else None
    try:
        yield {"done": done, "out": out, "address": address, "served": served}
    finally:
        with contextlib.suppress(Exception):
            docker_daemon.images.remove(TAG, force=True)


@pytest.mark.docker
def test_build_loads_the_hosts_image_that_runs_as_upstreams_does_and_says_what_it_is(built, release_repo, docker_daemon: Any):
    done = built["done"]
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == TAG
    assert "building for linux/amd64, linux/arm64 (upstream's platforms, from .github/workflows/release.yaml)" in done.stderr
    image = docker_daemon.images.get(TAG)
    config = image.attrs["Config"]
    assert config["User"] == "8737:8737" and config["Entrypoint"] == ["/bin/workflow-controller"]
    assert image.attrs["Architecture"] == platforms.host().architecture
    labels = config["Labels"]
    base = gitrepo.git(release_repo, "rev-parse", "v3.5.0^{commit}")
    assert labels["org.opencontainers.image.version"] == "v3.5.0"
    assert labels["io.github.argo-patcher.base-commit"] == base and labels["org.opencontainers.image.revision"] != base
    assert labels["io.github.argo-patcher.patch"].startswith("sha256:")
    helped = docker_daemon.containers.run(TAG, ["--help"], remove=True, network_mode="none")
    assert b"workflow-controller is the controller" in helped
    # upstream's Deployment runs `command: [workflow-controller]`: found on the image's PATH
    helped = docker_daemon.containers.run(TAG, ["workflow-controller", "--help"], entrypoint=[], remove=True, network_mode="none")
    assert b"workflow-controller is the controller" in helped
    version = docker_daemon.containers.run(TAG, ["--version"], remove=True, network_mode="none").decode().strip()
    assert version == f"v3.5.0+{labels['org.opencontainers.image.revision']}"  # the Makefile's stamp: the release, the backport commit
    with tarfile.open(built["out"] / "workflow-controller-image.tar") as saved:
        [manifest] = json.load(saved.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["RepoTags"] == [TAG]


@pytest.mark.docker
def test_the_index_holds_one_image_per_platform_and_the_loaded_one_is_among_them(built, docker_daemon: Any):
    assert built["done"].returncode == 0, built["done"].stderr
    layout = built["out"] / "oci"
    assert json.loads((layout / "oci-layout").read_text())["imageLayoutVersion"] == "1.0.0"
    [entry] = json.loads((layout / "index.json").read_text())["manifests"]
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "v3.5.0", "io.containerd.image.name": f"index.docker.io/{TAG}"}
    index = json.loads((layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_text())
    by_platform = {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]}
    assert sorted(by_platform) == ["linux/amd64", "linux/arm64"]
    configs = {}
    for name, digest in by_platform.items():
        image_manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
        configs[name] = image_manifest["config"]["digest"]
        config = json.loads((layout / "blobs" / "sha256" / configs[name].split(":")[1]).read_text())
        assert f"{config['os']}/{config['architecture']}" == name
    assert docker_daemon.images.get(TAG).id == configs[str(platforms.host())]  # the loaded image is the index's
    assert f"image index {entry['digest']}: linux/amd64, linux/arm64" in built["done"].stderr


@pytest.mark.docker
def test_each_platforms_binary_is_built_for_it(built):
    out = built["out"]
    assert built["done"].returncode == 0, built["done"].stderr
    helped = subprocess.run([str(out / "workflow-controller-linux-amd64"), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "workflow-controller is the controller" in helped.stdout
    arm64 = (out / "workflow-controller-linux-arm64").read_bytes()[:20]
    assert arm64[:4] == b"\x7fELF" and int.from_bytes(arm64[18:20], "little") == 183  # EM_AARCH64
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        pytest.skip("no qemu-aarch64-static (Debian's qemu-user-static) to run the arm64 binary with")
    helped = subprocess.run([qemu, str(out / "workflow-controller-linux-arm64"), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "workflow-controller is the controller" in helped.stdout


@pytest.mark.docker
def test_the_pushed_index_serves_both_platforms(built):
    if built["address"] is None:
        pytest.skip("no docker-registry (Debian's docker-registry package) to push to")
    assert built["done"].returncode == 0, built["done"].stderr
    digest, configs = built["served"]
    [entry] = json.loads((built["out"] / "oci" / "index.json").read_text())["manifests"]
    assert digest == entry["digest"]
    assert {name: (c["os"], c["architecture"], c["config"]["User"]) for name, c in configs.items()} == {
        "linux/amd64": ("linux", "amd64", "8737:8737"), "linux/arm64": ("linux", "arm64", "8737:8737")
    }
    assert f"pushed {built['address']}/{PUSHED[0]}@{digest}" in built["done"].stderr


@pytest.mark.docker
def test_the_deploy_manifests_name_the_pushed_index_by_digest(built):
    assert built["done"].returncode == 0, built["done"].stderr
    out = built["out"]
    [entry] = json.loads((out / "oci" / "index.json").read_text())["manifests"]
    name = f"{built['address']}/{PUSHED[0]}" if built["address"] else TAG.split(":")[0]
    kustomization = yaml.safe_load((out / "kustomize" / "kustomization.yaml").read_text())
    assert kustomization["images"] == [
        {"name": "quay.io/argoproj/workflow-controller", "newName": name, "digest": entry["digest"]},
        {"name": "quay.io/argoproj/argocli", "newTag": "v3.5.0"},
    ]
    assert (out / "kustomize" / "upstream" / "cluster-install" / "kustomization.yaml").is_file()
    assert not (out / "kustomize" / "upstream" / "quick-start").exists() and not (out / "kustomize" / "upstream" / "README.md").exists()
    values = yaml.safe_load((out / "helm-values.yaml").read_text())
    tagged = f"{built['address']}/{PUSHED[0]}:{PUSHED[1]}" if built["address"] else f"docker.io/{TAG}"
    assert helmvalues.rendered_image(values) == f"{tagged}@{entry['digest']}"  # the chart's REGISTRY/REPOSITORY:TAG
    assert values["images"] == {"tag": "v3.5.0"}
    kubectl = str(gotools.kubectl_for_tests())
    rendered = subprocess.run([kubectl, "kustomize", str(out / "kustomize")], capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"] for d in yaml.safe_load_all(rendered.stdout)}
    assert images == {"workflow-controller": f"{name}@{entry['digest']}", "argo-server": "quay.io/argoproj/argocli:v3.5.0"}


def test_the_default_tag_and_labels():
    assert controllerimage.default_tag("v3.5.5") == "argo-patcher/workflow-controller:v3.5.5-fix12945"
    assert controllerimage.default_tag("team/argo-3.5") == "argo-patcher/workflow-controller:team-argo-3.5-fix12945"
    provenance = controllerimage.Provenance("release-3.7", "a" * 40, "b" * 40, "diff --git ...", "https://example.invalid/argo.git")
    assert provenance.labels()["org.opencontainers.image.revision"] == "b" * 40 and provenance.patch_digest.startswith("sha256:")


def test_build_refuses_a_used_output_directory_before_any_work(release_repo, tmp_path, run_cli):
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("")
    done = run_cli("--repo", str(release_repo), "build", "--version", "v3.5.0", "--output", str(used))
    assert done.returncode == 2 and "exists and is not empty" in done.stderr
