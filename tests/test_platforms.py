"""Which platforms `patcher build` makes images for: read from a release workflow shaped as
upstream's (synthetic text here), or given with --platform."""

from __future__ import annotations

from pathlib import Path

import pytest

from patcher.delivery import platforms
from patcher.delivery.platforms import Platform
from patcher.errors import InputError

# v3.4's shape: one job per platform, each building every image.
ONE_JOB_PER_PLATFORM = """
jobs:
  build-linux-amd64:
    strategy:
      matrix:
        platform: [ linux/amd64 ]
        target: [ workflow-controller, argocli, argoexec ]
  build-linux-arm64:
    strategy:
      matrix:
        platform: [ linux/arm64 ]
        target: [ workflow-controller, argocli, argoexec ]
  build-windows:
    strategy:
      matrix:
        platform: [ windows/amd64 ]
        target: [ argoexec ]
"""
# v3.5 on: one job for both, a CLI job with more architectures that is no image's.
ONE_JOB = """
jobs:
  build-linux:
    runs-on: ${{ matrix.platform == 'linux/arm64' && 'arm-runner' || 'ubuntu-latest' }}
    strategy:
      matrix:
        platform: [ linux/amd64, linux/arm64 ]
        target: [ workflow-controller, argocli, argoexec, argoexec-nonroot ]
  build-cli:
    strategy:
      matrix:
        goarch: [ amd64, arm64, ppc64le, s390x ]
        platform: [ linux/ppc64le ]
  push-images:
    steps: [{run: docker manifest create x}]
"""


@pytest.mark.parametrize("text", [ONE_JOB_PER_PLATFORM, ONE_JOB])
def test_the_controllers_platforms_are_read_from_the_jobs_that_build_it(text):
    assert [str(p) for p in platforms.from_release_workflow(text)] == ["linux/amd64", "linux/arm64"]


def test_a_workflow_that_names_no_controller_build_gives_nothing():
    assert platforms.from_release_workflow("jobs: {build: {strategy: {matrix: {platform: [linux/amd64], target: argocli}}}}") == ()
    assert platforms.from_release_workflow("jobs: [not, a, mapping]") == ()
    assert platforms.from_release_workflow("{{ not yaml") == ()
    assert platforms.from_release_workflow("jobs: {b: {strategy: {matrix: {platform: linux/s390x, target: workflow-controller}}}}") == (
        Platform("linux", "s390x"),
    )


def test_the_release_trees_workflow_decides_else_the_fallback_says_so(tmp_path: Path):
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    published = platforms.published(tmp_path)
    assert [str(p) for p in published.platforms] == list(platforms.FALLBACK) and "no readable" in published.source
    (tmp_path / platforms.RELEASE_WORKFLOW).write_text(ONE_JOB_PER_PLATFORM.replace("linux/arm64", "linux/arm/v7"))
    published = platforms.published(tmp_path)
    assert [str(p) for p in published.platforms] == ["linux/amd64", "linux/arm/v7"] and published.source == ".github/workflows/release.yaml"


def test_asking_for_a_platform_upstream_does_not_publish_warns_and_builds_it(tmp_path: Path, capsys):
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / platforms.RELEASE_WORKFLOW).write_text(ONE_JOB)
    asked = platforms.parse_list("linux/arm64,linux/s390x")
    assert platforms.choose(asked, tmp_path, "v3.5.5") == asked
    assert "upstream publishes no linux/s390x image" in capsys.readouterr().err
    assert [str(p) for p in platforms.choose((), tmp_path, "v3.5.5")] == ["linux/amd64", "linux/arm64"]


def test_platform_names_and_what_go_builds_them_with():
    assert platforms.parse_list("linux/amd64, linux/arm64,linux/amd64") == (Platform("linux", "amd64"), Platform("linux", "arm64"))
    arm = Platform.parse("linux/arm/v7")
    assert (str(arm), arm.slug, arm.go_environment()) == ("linux/arm/v7", "linux-arm-v7", {"GOOS": "linux", "GOARCH": "arm", "GOARM": "7"})
    assert Platform.parse("linux/arm64/v8").go_environment() == {"GOOS": "linux", "GOARCH": "arm64"}
    assert Platform.parse("linux/amd64/v3").go_environment() == {"GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v3"}


@pytest.mark.parametrize(
    ("text", "message"),
    [("windows/amd64", "a linux image"), ("linux/x86_64", "not an architecture Go builds"), ("linux", "expected OS/ARCH"),
     ("linux/arm/v9", "unknown variant"), (",", "at least one platform")],
)  # fmt: skip
def test_a_bad_platform_is_one_input_error(text, message):
    with pytest.raises(InputError, match=message):
        platforms.parse_list(text)


def test_the_cli_refuses_a_bad_platform_before_any_work(run_cli, argo_repo):
    done = run_cli("--repo", str(argo_repo), "build", "--version", "v3.5.0", "--platform", "linux/sparc")
    assert done.returncode == 2 and done.stderr.strip() == (
        "error: --platform linux/sparc: sparc is not an architecture Go builds linux binaries for "
        f"({', '.join(platforms.ARCHITECTURES)})"
    )
