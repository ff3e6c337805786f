"""The whole matrix, hermetic: a synthetic Argo-shaped repository whose releases drive every
verdict, proved by the real pipeline with real Docker runs of our own tiny Go module.

Only the two steps that need Argo's real code are stood in for: the patch (here it rewrites one
file of ours, as each tag's PATCH file says) and the harness (here a Go test with a subtest per
contract case that fails for the cases our code marks broken).
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from patcher import cli
from patcher.errors import InputError, PatchError
from patcher.harness.contract import CASE_IDS, HARNESS_FILE, HARNESS_TEST
from patcher.patching.gotree import GoTree
from patcher.run import pipeline
from tests import gitrepo
from tests import report_samples as samples

PACKAGE = "workflow/controller"
GO_MOD = "module github.com/example/argo-like/v3\n\ngo {go}\n"
REGRESSION_TESTS = """package controller

import "testing"

func TestPodMetadataFromTemplateRef(t *testing.T) {
	if regressionBroken {
		t.Fatal("templateRef podMetadata lost")
	}
}

func TestArchiveLogs(t *testing.T) { t.Fatal("not in the regression suite, so never run") }
"""
HARNESS = """package controller

import "testing"

func TEST(t *testing.T) {
	for _, id := range []string{CASES} {
		id := id
		t.Run(id, func(t *testing.T) {
			if broken[id] {
				t.Errorf("pod label team: want template, got holder")
			}
		})
	}
}
""".replace("TEST", HARNESS_TEST, 1).replace("CASES", ", ".join(f'"{case}"' for case in CASE_IDS))


def precedence_go(broken: tuple[str, ...] = (), *, regression_broken: bool = False, body: str = "") -> str:
    cases = ", ".join(f'"{case}": true' for case in broken)
    return f"package controller\n\nvar broken = map[string]bool{{{cases}}}\n\nvar regressionBroken = {str(regression_broken).lower()}\n{body}"


# tag: (go version, cases broken before the patch, what the patch does) -> the verdict expected
RELEASES = {
    "v3.4.0": ("1.21", ("holder-cluster", "union"), "fix", "fixed"),
    "v3.5.0": ("1.21", (), "fix", "already-correct"),
    "v3.5.1": ("1.21", ("holder-cluster",), "broken-patch", "patch-error"),
    "v3.6.0": ("1.21", ("holder-cluster",), "unrecognised", "input-error"),
    "v3.7.0": ("1.21", ("holder-cluster",), "break-build", "build-error"),
    "v4.0.0": ("1.21", ("holder-cluster",), "half", "still-failing"),
    "v4.1.0": ("1.99", (), "fix", "input-error"),  # the forced --image has a Go older than its go.mod asks
}
PATCHED = {
    "fix": precedence_go(),
    "half": precedence_go(("template-over-holder",), regression_broken=True),
    "break-build": precedence_go(body="\nvar merged = mergePodMetadata()\n"),
}


@dataclasses.dataclass
class FakePlan:
    tree: GoTree
    action: str
    shape_name: str = "synthetic"
    packages: tuple[str, ...] = (f"./{PACKAGE}/",)
    already_patched: bool = False

    @property
    def changed_files(self) -> list[str]:
        return [f"{PACKAGE}/precedence.go"]

    @property
    def contents(self) -> dict[str, bytes]:
        return {f"{PACKAGE}/precedence.go": PATCHED[self.action].encode()}

    def apply(self) -> None:
        self.tree.write(f"{PACKAGE}/precedence.go", PATCHED[self.action].encode())


class FakePatch:
    @staticmethod
    def plan(tree: GoTree, gofmt: object) -> FakePlan:
        action = (tree.root / "PATCH").read_text().strip()
        if action == "unrecognised":
            raise InputError(f"{PACKAGE}/operator.go: unrecognised code shape (no mergedTemplate); cannot place the fix")
        if action == "broken-patch":
            raise PatchError(f'the patched {PACKAGE}/workflowpod.go would not compile: "maps" imported and not used')
        return FakePlan(tree, action)


class FakeHarness:
    @staticmethod
    def render_for(tree: GoTree, gofmt: object) -> str:
        return HARNESS

    @staticmethod
    def write(tree: Path, text: str) -> None:
        (tree / PACKAGE / HARNESS_FILE).write_text(text)


@pytest.fixture
def synthetic_argo(tmp_path: Path) -> Path:
    files_for = {
        tag: {
            "go.mod": GO_MOD.format(go=go),
            f"{PACKAGE}/workflowpod.go": "package controller\n",
            f"{PACKAGE}/precedence.go": precedence_go(broken),
            f"{PACKAGE}/operator_test.go": REGRESSION_TESTS,
            "PATCH": action + "\n",
        }
        for tag, (go, broken, action, _) in RELEASES.items()
    }
    return gitrepo.make_repo(tmp_path / "argo", list(RELEASES), files={}, files_for=files_for)


def run_matrix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code), out, err


@pytest.mark.docker
def test_matrix_drives_every_verdict_and_report(
    synthetic_argo: Path, go_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pipeline, "patch", FakePatch)
    monkeypatch.setattr(pipeline, "fixture", FakeHarness)
    monkeypatch.setattr(pipeline.upstream, "render_for", lambda tree, gofmt: {})  # the synthetic releases have no test files for it
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out_dir = tmp_path / "out"
    options = ["--runner", "docker", "--image", go_image, "--offline", "--timeout", "300"]

    code, out, err = run_matrix(
        capsys, "--repo", str(synthetic_argo), "matrix", "--versions", ",".join(RELEASES), "--jobs", "2", *options,
        "--json", str(out_dir / "r.json"), "--junit", str(out_dir / "r.xml"), "--markdown", str(out_dir / "r.md"),
    )  # fmt: skip

    assert code == 1, err
    report = json.loads((out_dir / "r.json").read_text())
    assert samples.schema_errors(report) == []
    verdicts = {r["version"]: r["verdict"] for r in report["results"]}
    assert verdicts == {tag: expected for tag, (*_, expected) in RELEASES.items()}
    by_version = {r["version"]: r for r in report["results"]}
    fixed = by_version["v3.4.0"]
    assert fixed["baseline"]["cases"]["holder-cluster"] == "fail" and fixed["baseline"]["cases"]["holder-namespaced"] == "pass"
    assert set(fixed["patched"]["cases"].values()) == {"pass"}
    assert fixed["patched"]["tests"] == {"TestPodMetadataFromTemplateRef": "pass"}  # the suite's regression test, only
    still = by_version["v4.0.0"]
    assert still["patched"]["cases"]["template-over-holder"] == "fail"
    assert still["patched"]["tests"]["TestPodMetadataFromTemplateRef"] == "fail"
    assert "undefined: mergePodMetadata" in by_version["v3.7.0"]["patched"]["message"]
    assert by_version["v3.7.0"]["patched"]["status"] == "build-error"
    assert "unrecognised code shape" in by_version["v3.6.0"]["message"]
    assert "1.99" in by_version["v4.1.0"]["message"] and by_version["v4.1.0"]["error"] == "input"
    assert by_version["v3.5.1"]["error"] == "patch" and "imported and not used" in by_version["v3.5.1"]["message"]

    # Stage lines in the log (stderr is not a terminal here), then the table and the summary.
    assert "[v3.4.0] baseline started" in err and "[v3.4.0] done: fixed" in err
    assert "7 releases: 1 fixed, 1 already-correct, 1 still-failing, 1 build-error, 1 patch-error, 2 input-error" in err
    assert "v3.4.0" in out and "already-correct" in out and "undefined: mergePodMetadata" in out

    suites = {s.get("name"): s for s in ET.parse(out_dir / "r.xml").getroot().iter("testsuite")}
    assert suites["v3.4.0 baseline"].get("failures") == "2" and suites["v3.4.0 patched"].get("failures") == "0"
    assert suites["v3.7.0 patched"].get("errors") == str(len(CASE_IDS))
    markdown = (out_dir / "r.md").read_text()
    assert "| **v3.4.0**" in markdown and "<summary>❌ v4.0.0: still-failing" in markdown
    assert summary.read_text() == markdown

    # Without a baseline, a release that passes is 'passed', and the exit code is 0.
    code, out, err = run_matrix(capsys, "--repo", str(synthetic_argo), "matrix", "--versions", "v3.4.0", "--no-baseline", *options)
    assert code == 0, err
    assert "passed" in out and "baseline started" not in err
