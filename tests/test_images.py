"""Go images: building one with no registry, listing them, and choosing one for a tree."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from patcher.errors import InfraError, InputError
from patcher.patching.gomod import GoMod, GoVersion
from patcher.runners import engine as docker_engine
from patcher.runners import hostgo, images

# -- choosing, with a fake engine ----------------------------------------------------------------


@dataclasses.dataclass
class FakeImage:
    id: str
    tags: list[str]
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    env: list[str] = dataclasses.field(default_factory=list)

    @property
    def attrs(self) -> dict[str, Any]:
        return {"Config": {"Env": self.env}, "Size": 1000}


class FakeImages:
    def __init__(self, present: list[FakeImage], pullable: dict[str, FakeImage] | None = None, pull_error: Exception | None = None) -> None:
        self.present = present
        self.pullable = pullable or {}
        self.pull_error = pull_error
        self.pulls: list[str] = []

    def list(self, name: str | None = None, filters: dict[str, str] | None = None) -> list[FakeImage]:
        if filters:
            return [i for i in self.present if i.labels.get(docker_engine.LABEL) == "go"]
        return [i for i in self.present if any(t.startswith(f"{name}:") for t in i.tags)]

    def get(self, ref: str) -> FakeImage:
        for image in self.present:
            if ref in image.tags or ref == image.id:
                return image
        raise docker.errors.ImageNotFound(f"no such image: {ref}")

    def pull(self, repository: str, tag: str) -> FakeImage:
        ref = f"{repository}:{tag}"
        self.pulls.append(ref)
        if self.pull_error:
            raise self.pull_error
        if ref not in self.pullable:
            raise docker.errors.NotFound("manifest unknown")
        self.present.append(self.pullable[ref])
        return self.pullable[ref]


class FakeClient:
    def __init__(self, fake_images: FakeImages) -> None:
        self.images = fake_images


def official(version: str) -> FakeImage:
    line = ".".join(version.split(".")[:2])
    return FakeImage(f"sha256:golang{version}", [f"golang:{version}", f"golang:{line}"], env=[f"GOLANG_VERSION={version}", "PATH=/usr/local/go/bin"])


def ours(version: str) -> FakeImage:
    return FakeImage(f"sha256:ours{version}", [f"argo-patcher/go:{version}"], {docker_engine.LABEL: "go", images.LABEL_GO_VERSION: version})


def gomod(go: str, toolchain: str | None = None) -> GoMod:
    return GoMod(Path("/tree/go.mod"), "github.com/argoproj/argo-workflows/v3", GoVersion.parse(go), GoVersion.parse(toolchain) if toolchain else None)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(images, "_unpullable", {})  # pulls that failed before this test (the cache root is the test's own)

    def install(fake_images: FakeImages, host_version: str | None = None) -> FakeImages:
        client = FakeClient(fake_images)
        monkeypatch.setattr(docker_engine, "client", lambda timeout=None: client)
        host = None
        if host_version:
            host = hostgo.HostGo(Path("/go/bin/go"), Path("/go"), GoVersion.parse(host_version), "linux", "amd64", {})
        monkeypatch.setattr(hostgo, "find", lambda goroot=None: host)
        return fake_images

    yield install


def test_official_image_that_is_here(engine: Any) -> None:
    fake = engine(FakeImages([official("1.21.13"), official("1.22.5"), ours("1.26.8")]))
    assert images.choose(gomod("1.21")).ref == "golang:1.21.13"
    assert fake.pulls == []


def test_official_image_is_pulled_when_it_can_be(engine: Any) -> None:
    fake = engine(FakeImages([ours("1.26.8")], pullable={"golang:1.21": official("1.21.13")}))
    assert images.choose(gomod("1.21.0", "go1.21.5")).go == GoVersion(1, 21, 13)
    assert fake.pulls == ["golang:1.21"]


def test_no_registry_means_an_image_of_ours_that_is_recent_enough(engine: Any) -> None:
    fake = engine(FakeImages([ours("1.20.1"), ours("1.22.0"), ours("1.26.8")], pull_error=docker.errors.APIError("Get https://registry-1.docker.io/v2/: dial tcp: lookup registry-1.docker.io: no such host")))
    assert images.choose(gomod("1.21")).ref == "argo-patcher/go:1.22.0"  # the oldest that fits
    assert images.choose(gomod("1.23.1")).ref == "argo-patcher/go:1.26.8"
    assert fake.pulls == ["golang:1.21"]  # a registry that did not answer is not asked again


def test_offline_does_not_pull(engine: Any) -> None:
    fake = engine(FakeImages([ours("1.26.8")], pullable={"golang:1.21": official("1.21.13")}))
    assert images.choose(gomod("1.21"), offline=True).ref == "argo-patcher/go:1.26.8"
    assert fake.pulls == []


def test_builds_from_the_local_go_when_nothing_fits(engine: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    engine(FakeImages([ours("1.20.1")], pull_error=docker.errors.APIError("no such host")), host_version="1.26.8")
    built = images.GoImage("argo-patcher/go:1.26.8", "sha256:new", GoVersion(1, 26, 8), True)
    calls: list[Any] = []
    monkeypatch.setattr(images, "build", lambda goroot=None, tag=None, rebuild=False, quiet=False: calls.append(goroot) or built)
    assert images.choose(gomod("1.21"), context="v3.5.5") is built
    assert calls == [Path("/go")]
    assert "building argo-patcher/go:1.26.8 from the local Go 1.26.8" in capsys.readouterr().err


def test_nothing_fits_and_no_local_go_says_how_to_get_an_image(engine: Any) -> None:
    engine(FakeImages([ours("1.20.1")], pull_error=docker.errors.APIError("no such host")), host_version="1.20.1")
    with pytest.raises(InfraError) as caught:
        images.choose(gomod("1.21"), context="v3.5.5")
    message = str(caught.value)
    assert "no Docker image with Go >= 1.21 for v3.5.5" in message
    assert "patcher image build --goroot DIR" in message and "--image NAME" in message
    assert "no such host" in message and "\n" not in message


def test_forced_image(engine: Any) -> None:
    engine(FakeImages([ours("1.20.1"), official("1.22.5")]))
    assert images.choose(gomod("1.21"), "golang:1.22.5").ref == "golang:1.22.5"
    with pytest.raises(InputError, match="has Go 1.20.1, but v3.5.5 needs Go 1.21"):
        images.choose(gomod("1.21"), "argo-patcher/go:1.20.1", context="v3.5.5")
    with pytest.raises(InfraError, match="image nope:1 is not here and cannot be pulled"):
        images.choose(gomod("1.21"), "nope:1")


# -- building, for real ---------------------------------------------------------------------------


@pytest.mark.docker
def test_image_build_and_list(go_image: str, docker_daemon: Any, run_cli: Any) -> None:
    image = docker_daemon.images.get(go_image)
    config = image.attrs["Config"]
    host = hostgo.require()
    assert go_image == f"argo-patcher/go:{host.version}"
    assert config["User"] == "1000:1000"
    assert config["Labels"][docker_engine.LABEL] == "go" and config["Labels"][images.LABEL_GO_VERSION] == str(host.version)
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["CGO_ENABLED"] == "0" and env["GOTOOLCHAIN"] == "local" and env["GOFLAGS"] == "-buildvcs=false"
    # Built again: the same image, reused.
    again = run_cli("image", "build")
    assert again.returncode == 0 and again.stdout.strip() == go_image and "reusing it" in again.stderr
    listed = run_cli("image", "list")
    assert listed.returncode == 0
    assert any(line.split()[:2] == [go_image, str(host.version)] for line in listed.stdout.splitlines())


@pytest.mark.docker
def test_image_file_system(go_image: str, docker_daemon: Any) -> None:
    """What is in the image: GOROOT, certificates, /tmp, and a home that belongs to the user."""
    container = docker_daemon.containers.create(go_image, ["go", "version"])
    try:
        entries = {}
        for path in ("/tmp", "/home/gopher", "/etc/ssl/certs/ca-certificates.crt", "/etc/passwd"):
            stream, _ = container.get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                entries.update({f"/{m.name}" if not m.name.startswith("/") else m.name: m for m in tar.getmembers()})
        assert entries["/tmp"].mode & 0o7777 == 0o1777
        for directory in ("/gopher", "/gopher/go/pkg/mod", "/gopher/.cache/go-build"):
            assert entries[directory].uid == 1000, directory
        assert entries["/ca-certificates.crt"].size > 1000
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        assert b"go version go" in container.logs()
    finally:
        container.remove(force=True)


@pytest.mark.docker
def test_build_with_a_tag_and_rebuild(go_image: str, docker_daemon: Any, run_cli: Any) -> None:
    tag = "argo-patcher-test/go:rebuild"
    docker_daemon.images.get(go_image).tag(tag)
    try:
        reused = run_cli("image", "build", "--tag", tag)
        assert reused.returncode == 0 and "reusing it" in reused.stderr
        rebuilt = run_cli("image", "build", "--tag", tag, "--rebuild", timeout=600)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert rebuilt.stdout.strip() == tag and "building" in rebuilt.stderr
        new = docker_daemon.images.get(tag)
        assert new.labels[docker_engine.LABEL] == "go" and new.id != docker_daemon.images.get(go_image).id
    finally:
        try:
            docker_daemon.images.remove(tag, force=True)
        except docker.errors.DockerException:
            pass


def test_build_refuses_a_go_of_another_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    darwin = hostgo.HostGo(Path("/opt/go/bin/go"), Path("/opt/go"), GoVersion(1, 22, 0), "darwin", "arm64", {})
    monkeypatch.setattr(hostgo, "require", lambda goroot=None: darwin)

    class Info:
        def info(self) -> dict[str, str]:
            return {"OSType": "linux", "Architecture": "aarch64"}

    monkeypatch.setattr(docker_engine, "client", lambda timeout=None: Info())
    with pytest.raises(InputError, match="is for darwin/arm64, but the Docker engine runs linux/arm64"):
        images.build(Path("/opt/go"))


def test_build_needs_a_go(run_cli: Any, tmp_path: Path) -> None:
    proc = run_cli("image", "build", "--goroot", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path} is not a Go installation (no bin/go in it)"
