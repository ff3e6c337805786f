"""The Docker engine: clients, the labels on what argo-patcher creates, its hardened containers,
and reaping leftovers.

Clients are per thread: the pipeline runs releases in parallel threads, and a docker-py client
wraps a ``requests`` session, which is not meant to be shared between threads.

Every container argo-patcher starts carries ``argo-patcher.owner``: the host name, process id
and process start time of the run that made it (testcontainers' "session label" idea, without
the Ryuk sidecar that needs a registry). A run that ends, fails or is interrupted removes its
containers itself; one that was killed (SIGKILL, a crash) cannot, so at the start of every run
the containers whose owner process is gone are removed (``reap_orphans``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import docker
import docker.errors
import requests.exceptions

from patcher import owners, ui
from patcher.errors import DockerUnavailable, InfraError
from patcher.runners.base import register, unregister

LABEL = "argo-patcher"  # value: what the object is: "test", "fetch", "init" containers, "go" images, volumes
LABEL_RUN_ID = "argo-patcher.run-id"
LABEL_OWNER = "argo-patcher.owner"
LABEL_TREE = "argo-patcher.tree"
API_TIMEOUT_S = 60
PING_TIMEOUT_S = 5
FOREIGN_ORPHAN_AGE_S = 24 * 3600
NO_DAEMON_HINT = "start it or use --runner local"

_local = threading.local()
_availability_lock = threading.Lock()
_availability: tuple[bool, str] | None = None
DockerError = (docker.errors.DockerException, requests.exceptions.RequestException)


def client(timeout: float = API_TIMEOUT_S) -> docker.DockerClient:
    """This thread's client to the Docker engine; ``InfraError`` when no daemon answers."""
    clients: dict[float, docker.DockerClient] = _local.__dict__.setdefault("clients", {})
    found = clients.get(timeout)
    if found is None:
        try:
            found = docker.from_env(timeout=math.ceil(timeout))
        except DockerError as exc:
            raise DockerUnavailable(f"cannot reach the Docker daemon ({reason(exc)}); {NO_DAEMON_HINT}") from None
        clients[timeout] = found
    return found


def available() -> tuple[bool, str]:
    """Whether a Docker daemon answers, and if not why; asked once per process."""
    global _availability
    with _availability_lock:
        if _availability is None:
            try:
                client(PING_TIMEOUT_S).ping()
                _availability = (True, "")
            except InfraError as exc:
                _availability = (False, str(exc))
            except DockerError as exc:
                _availability = (False, f"cannot reach the Docker daemon ({reason(exc)}); {NO_DAEMON_HINT}")
        return _availability


@contextlib.contextmanager
def errors_as_infra(doing: str) -> Iterator[None]:
    """Turn docker-py and connection failures into one-line ``InfraError``s."""
    try:
        yield
    except InfraError:
        raise
    except requests.exceptions.ConnectionError as exc:
        raise DockerUnavailable(f"lost the Docker daemon while {doing} ({reason(exc)}); {NO_DAEMON_HINT}") from None
    except DockerError as exc:
        raise InfraError(f"Docker failed while {doing}: {reason(exc)}") from None


def reason(exc: BaseException) -> str:
    """The useful part of a docker-py or requests error, on one line."""
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        text = str(exc.explanation)
    else:
        text = str(exc)
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        for marker, short in (
            ("FileNotFoundError", f"no Docker socket at {where}"),
            ("ConnectionRefusedError", f"connection refused at {where}"),
            ("PermissionError", f"permission denied on {where}"),
        ):
            if marker in text:
                text = short
                break
    return " ".join(text.split()) or type(exc).__name__


def labels(kind: str, run_id: str, **extra: str) -> dict[str, str]:
    return {LABEL: kind, LABEL_RUN_ID: run_id, LABEL_OWNER: owners.owner(), **extra}


# Every container argo-patcher runs: no capability, no new privileges, an init reaping its zombies.
HARDENED: dict[str, Any] = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "init": True}


@contextlib.contextmanager
def hardened_container(
    docker_client: docker.DockerClient, image: str, *, role: str, run_id: str, stop_grace_s: float = 0, extra_labels: Mapping[str, str] | None = None,
    **create: Any,
) -> Iterator[Any]:  # fmt: skip
    """A container of ``image`` made with ``create``'s arguments and ``HARDENED``, labelled with the
    run (reaped after a kill), started. When the block ends, however it ends, or ``abort_all``
    stops the run, the container is removed, after SIGTERM and ``stop_grace_s`` seconds when it
    still runs and has a grace."""
    with errors_as_infra(f"creating the {role} container"):
        container = docker_client.containers.create(
            image, name=container_name(run_id, role), labels=labels(role, run_id, **(extra_labels or {})), **HARDENED, **create
        )
    container_id = str(container.id)
    token = None
    try:
        token = register(lambda: remove(container_id))
        with errors_as_infra(f"starting the {role} container"):
            container.start()
        yield container
    finally:
        if token is not None:
            unregister(token)
        if stop_grace_s:
            with contextlib.suppress(*DockerError):
                container.reload()
                if container.status == "running":
                    container.stop(timeout=int(stop_grace_s))
        remove(container_id, docker_client)


def remove(container_id: str, docker_client: docker.DockerClient | None = None) -> None:
    """Remove the container, running or not; one that is gone already is no error."""
    try:
        (docker_client or client()).api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except (*DockerError, InfraError) as exc:
        ui.debug(f"could not remove container {container_id[:12]}: {exc}")


def container_name(run_id: str, role: str) -> str:
    return f"argo-patcher-{slug(run_id).strip('-.')[:60] or 'run'}-{role}-{secrets.token_hex(3)}"


def slug(text: str) -> str:
    """``text`` with what a container or file name cannot hold turned into dashes."""
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text)


def reap_orphans(docker_client: docker.DockerClient | None = None) -> list[str]:
    """Remove argo-patcher's containers whose run was killed; return their names."""
    docker_client = docker_client or client()
    with errors_as_infra("listing argo-patcher's containers"):
        # The plain listing: inspecting each one would race with runs removing theirs.
        found = docker_client.api.containers(all=True, filters={"label": LABEL_OWNER})
    removed = []
    for entry in found:
        labels = entry.get("Labels") or {}
        name = (entry.get("Names") or [entry["Id"][:12]])[0].lstrip("/")
        alive = owners.owner_alive(labels.get(LABEL_OWNER, ""))
        if alive is None:
            alive = time.time() - float(entry.get("Created") or 0) < FOREIGN_ORPHAN_AGE_S
        if alive:
            continue
        ui.debug(f"removing container {name}, left by run {labels.get(LABEL_RUN_ID, '?')} that did not finish")
        with contextlib.suppress(*DockerError):
            docker_client.api.remove_container(entry["Id"], force=True)
            removed.append(name)
    return removed
