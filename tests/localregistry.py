"""A real container registry on loopback for the push tests: Debian's ``docker-registry``
(the Distribution registry, which serves OCI image indexes), and reading back what it serves
through its HTTP API, as a runtime pulling the image would."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

INDEX_TYPES = "application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(workdir: Path) -> Iterator[str]:
    """A registry storing under ``workdir``; yields its address (127.0.0.1:PORT); stopped at the end."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("no docker-registry (Debian's docker-registry package) to push to")
    port = _free_port()
    config = workdir / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {workdir / 'storage'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}, secret: argo-patcher-test}}\n"
    )
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://{address}/v2/", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"docker-registry did not start: {(workdir / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def manifest(address: str, repository: str, reference: str, accept: str) -> tuple[str, dict[str, Any]]:
    """The manifest the registry serves under a tag or digest: its digest (the registry's own
    Docker-Content-Digest) and its content."""
    got = requests.get(f"http://{address}/v2/{repository}/manifests/{reference}", headers={"Accept": accept}, timeout=30)
    assert got.status_code == 200, f"{repository}:{reference}: {got.status_code} {got.text[:300]}"
    return got.headers["Docker-Content-Digest"], got.json()


def blob(address: str, repository: str, digest: str) -> dict[str, Any]:
    got = requests.get(f"http://{address}/v2/{repository}/blobs/{digest}", timeout=30)
    assert got.status_code == 200, f"{repository}@{digest}: {got.status_code}"
    return dict(got.json())


def platforms_served(address: str, repository: str, tag: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """The index's digest under ``tag``, and per platform the config of the image it serves."""
    digest, index = manifest(address, repository, tag, INDEX_TYPES)
    configs = {}
    for entry in index["manifests"]:
        platform = f"{entry['platform']['os']}/{entry['platform']['architecture']}"
        _, image = manifest(address, repository, entry["digest"], MANIFEST_TYPES)
        configs[platform] = blob(address, repository, image["config"]["digest"])
    return digest, configs
