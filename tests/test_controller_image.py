"""`patcher build`: the patched controller and an image operators deploy, for real with Docker, on a
synthetic release whose cmd/workflow-controller is a tiny program of ours that prints its help
and the version stamp the release's build flags give it."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from patcher.delivery import controllerimage
from tests import gitrepo
from tests.goshapes import make_tree

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


@pytest.fixture
def release_repo(tmp_path: Path) -> Path:
    files = gitrepo.copy_tree(make_tree(tmp_path / "shape", "v3.5"))
    files.update({"go.mod": "module example.com/argo-workflows/v3\n\ngo 1.21\n", "version.go": VERSION_GO, "cmd/workflow-controller/main.go": MAIN_GO})
    return gitrepo.make_repo(tmp_path / "argo", ["v3.5.0"], files_for={"v3.5.0": files})


@pytest.mark.docker
def test_build_makes_an_image_that_runs_as_upstreams_does_and_says_what_it_is(release_repo, tmp_path, run_cli, docker_daemon: Any, go_image: str):
    out = tmp_path / "out"
    tag = "argo-patcher-test/workflow-controller:v3.5.0"
    done = run_cli("--repo", str(release_repo), "build", "--version", "v3.5.0", "--tag", tag, "--output", str(out),
                   "--runner", "docker", "--image", go_image, "--offline", timeout=900)  # fmt: skip
    try:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == tag
        image = docker_daemon.images.get(tag)
        config = image.attrs["Config"]
        assert config["User"] == "8737:8737" and config["Entrypoint"] == ["/bin/workflow-controller"]
        labels = config["Labels"]
        base = gitrepo.git(release_repo, "rev-parse", "v3.5.0^{commit}")
        assert labels["org.opencontainers.image.version"] == "v3.5.0"
        assert labels["io.github.argo-patcher.base-commit"] == base and labels["org.opencontainers.image.revision"] != base
        assert labels["io.github.argo-patcher.patch"].startswith("sha256:")
        helped = docker_daemon.containers.run(tag, ["--help"], remove=True, network_mode="none")
        assert b"workflow-controller is the controller" in helped
        version = docker_daemon.containers.run(tag, ["--version"], remove=True, network_mode="none").decode().strip()
        assert version == f"v3.5.0+{labels['org.opencontainers.image.revision']}"  # the Makefile's stamp: the release, the backport commit
        assert (out / "workflow-controller").stat().st_mode & 0o111
        with tarfile.open(out / "workflow-controller-image.tar") as saved:
            [manifest] = json.load(saved.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest["RepoTags"] == [tag]
    finally:
        docker_daemon.images.remove(tag, force=True)


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
