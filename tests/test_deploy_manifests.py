"""The deploy manifests `patcher build --output` writes: a kustomize overlay over the release's
install manifests (synthetic ones here, shaped as upstream's) and Helm values, both naming the
patched image by digest; and the image names they are made from. Against a real API server with
a real release's manifests: tests/test_build_upstream.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from patcher.delivery import helmvalues, kustomize
from patcher.delivery.deliverables import Request
from patcher.delivery.imageref import ImageRef
from patcher.errors import InputError
from tests import gitrepo, gotools

DIGEST = "sha256:" + "2d" * 32


def deployment(name: str, image: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n"
        f"  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n        - {{name: {name}, image: '{image}'}}\n"
    )


@pytest.fixture
def release_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    gitrepo.write_files(
        tree,
        {
            "manifests/cluster-install/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: argo\nresources: [../base]\n",
            "manifests/base/kustomization.yaml": "resources: [workflow-controller/workflow-controller-deployment.yaml, argo-server/argo-server-deployment.yaml]\n",
            "manifests/base/workflow-controller/workflow-controller-deployment.yaml": deployment("workflow-controller", "quay.io/argoproj/workflow-controller:latest"),
            "manifests/base/argo-server/argo-server-deployment.yaml": deployment("argo-server", "quay.io/argoproj/argocli:latest"),
            "manifests/quick-start/base/kustomization.yaml": "resources: []\n",
            "manifests/README.md": "upstream's\n",
        },
    )
    return tree


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("argo-patcher/workflow-controller:v3.5.5-fix12945", ("", "argo-patcher/workflow-controller", "v3.5.5-fix12945", "")),
        ("127.0.0.1:5000/argo/wc", ("127.0.0.1:5000", "argo/wc", "", "")),
        ("localhost/wc:v1@" + DIGEST, ("localhost", "wc", "v1", DIGEST)),
        ("quay.io/argoproj/workflow-controller:latest", ("quay.io", "argoproj/workflow-controller", "latest", "")),
        ("registry.example.com:443/team/argo/wc", ("registry.example.com:443", "team/argo/wc", "", "")),
    ],
)
def test_image_references_read_as_docker_reads_them(text, parts):
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == parts
    assert str(ref) == text


@pytest.mark.parametrize(("text", "message"), [("Team/WC", "in lower case"), ("wc:bad tag", "not a valid tag"), ("wc@sha256:12", "64 hex digits"), ("", "expected")])
def test_a_malformed_image_name_is_one_input_error(text, message):
    with pytest.raises(InputError, match=message):
        ImageRef.parse(text, what="--push")


def test_the_image_is_named_by_tag_push_or_default_and_always_has_a_tag():
    assert [str(r) for r in Request().image_names("v3.5.5") if r] == ["argo-patcher/workflow-controller:v3.5.5-fix12945"]
    name, push = Request(push="127.0.0.1:5000/argo/wc").image_names("v3.5.5")
    assert (str(name), str(push)) == ("127.0.0.1:5000/argo/wc:v3.5.5-fix12945", "127.0.0.1:5000/argo/wc:v3.5.5-fix12945")
    name, push = Request(tag="local/wc:dev", push="reg.example/argo/wc").image_names("v3.5.5")
    assert (str(name), str(push)) == ("local/wc:dev", "reg.example/argo/wc:dev")
    with pytest.raises(InputError, match="name a tag, not a digest"):
        Request(push=f"reg.example/wc@{DIGEST}").image_names("v3.5.5")


def test_the_overlay_swaps_the_controller_for_the_patched_image_by_digest(release_tree: Path, tmp_path: Path):
    image = ImageRef.parse("registry.example.com/argo/workflow-controller:v3.5.5-fix12945")
    written = kustomize.write(tmp_path / "out" / "kustomize", release_tree, image=image, digest=DIGEST, release="v3.5.5", version_tag=True)
    assert written is not None
    text = written.read_text()
    assert "kubectl apply --server-side --dry-run=server -k" in text  # says how to check it before applying
    assert yaml.safe_load(text) == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["upstream/cluster-install"],
        "images": [
            {"name": "quay.io/argoproj/workflow-controller", "newName": "registry.example.com/argo/workflow-controller", "digest": DIGEST},
            {"name": "quay.io/argoproj/argocli", "newTag": "v3.5.5"},
        ],
    }
    upstream = written.parent / "upstream"
    assert (upstream / "base" / "workflow-controller" / "workflow-controller-deployment.yaml").read_text() == deployment(
        "workflow-controller", "quay.io/argoproj/workflow-controller:latest"
    )
    assert not (upstream / "quick-start").exists() and not (upstream / "README.md").exists()


def test_a_branch_keeps_argo_servers_image_and_a_tree_without_manifests_gets_no_overlay(release_tree: Path, tmp_path: Path, capsys):
    image = ImageRef.parse("reg.example/wc:release-3.7-fix12945")
    document = kustomize.overlay(release_tree / "manifests", image=image, digest=DIGEST, release="release-3.7", version_tag=False)
    assert document["images"] == [{"name": "quay.io/argoproj/workflow-controller", "newName": "reg.example/wc", "digest": DIGEST}]
    assert kustomize.write(tmp_path / "k", tmp_path / "empty", image=image, digest=DIGEST, release="fork", version_tag=False) is None
    assert "fork has no manifests/cluster-install" in capsys.readouterr().err


def test_the_overlay_follows_the_image_name_the_release_uses(release_tree: Path):
    path = release_tree / "manifests/base/workflow-controller/workflow-controller-deployment.yaml"
    path.write_text(deployment("workflow-controller", "ghcr.io/fork/workflow-controller:latest"))
    document = kustomize.overlay(release_tree / "manifests", image=ImageRef.parse("r.example/wc:t"), digest=DIGEST, release="v3.5.5", version_tag=True)
    assert document["images"][0]["name"] == "ghcr.io/fork/workflow-controller"


def test_helm_values_name_the_same_image_as_the_chart_renders_it(tmp_path: Path):
    image = ImageRef.parse("registry.example.com/argo/workflow-controller:v3.5.5-fix12945")
    path = helmvalues.write(tmp_path / "helm-values.yaml", image=image, digest=DIGEST, release="v3.5.5", version_tag=True)
    values = yaml.safe_load(path.read_text())
    assert values == {
        "images": {"tag": "v3.5.5"},  # the executor and argo-server: the release, not the chart's appVersion
        "controller": {"image": {"registry": "registry.example.com", "repository": "argo/workflow-controller", "tag": f"v3.5.5-fix12945@{DIGEST}"}},
    }
    assert helmvalues.rendered_image(values) == f"registry.example.com/argo/workflow-controller:v3.5.5-fix12945@{DIGEST}"
    hub = helmvalues.values(image=ImageRef.parse("argo-patcher/workflow-controller:x"), digest=DIGEST, release="main", version_tag=False)
    assert hub == {"controller": {"image": {"registry": "docker.io", "repository": "argo-patcher/workflow-controller", "tag": f"x@{DIGEST}"}}}
    assert "helm upgrade --install argo-workflows argo/argo-workflows" in path.read_text()


def test_kustomize_renders_the_overlay_with_the_digest(release_tree: Path, tmp_path: Path):
    kubectl = str(gotools.kubectl_for_tests())
    image = ImageRef.parse("registry.example.com/argo/workflow-controller:v3.5.5-fix12945")
    written = kustomize.write(tmp_path / "kustomize", release_tree, image=image, digest=DIGEST, release="v3.5.5", version_tag=True)
    assert written is not None
    done = subprocess.run([kubectl, "kustomize", str(written.parent)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    images = {d["metadata"]["name"]: (d["metadata"]["namespace"], d["spec"]["template"]["spec"]["containers"][0]["image"]) for d in yaml.safe_load_all(done.stdout)}
    assert images == {
        "workflow-controller": ("argo", f"registry.example.com/argo/workflow-controller@{DIGEST}"),
        "argo-server": ("argo", "quay.io/argoproj/argocli:v3.5.5"),
    }
