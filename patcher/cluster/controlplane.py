"""etcd and kube-apiserver as child processes: a Kubernetes API with no nodes and no kubelet.

Modelled on controller-runtime's envtest (``pkg/internal/testing/controlplane``): etcd with its
data in the run's directory and its client URL on 127.0.0.1, waited on through ``/health``; then
kube-apiserver on 127.0.0.1 with freshly made certificates, a service-account issuer and RBAC
(the admin client's group, ``system:masters``, is let in by every authorizer), waited on through
``/readyz``; then a kubeconfig for the admin client. Every child (the controllers the check
starts too, through ``start_child``) is stopped in reverse order, the controllers first and etcd
last, on errors and on interruption too.

On loopback alone the API server needs ``--advertise-address=127.0.0.1`` and no endpoint
reconciler (there is no Service network to publish itself on). etcd before 3.5 lacks what the
API server's watch-list streaming relies on, so with such an etcd (Debian's 3.4) that feature is
turned off, or informers miss watch events.
"""

from __future__ import annotations

import functools
import re
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import requests

from patcher import ui
from patcher.cluster import certs, kubeconfig
from patcher.cluster.assets import Assets
from patcher.cluster.kubeapi import KubeClient
from patcher.errors import InfraError
from patcher.runners import childprocs
from patcher.runners.childprocs import Process, wait_until

ETCD_START_TIMEOUT_S = 30.0
APISERVER_START_TIMEOUT_S = 90.0
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"  # the first of the range: the ``kubernetes`` Service's
KUBERNETES_SERVICE_PORT = 443
LOOPBACK = "127.0.0.1"


_Started = TypeVar("_Started", bound="Started")


class Started:
    """Started on entering a ``with`` block, stopped on leaving it, and stopped when the start
    fails half-way (what had started is stopped in order)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Started) -> _Started:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class ControlPlane(Started):
    """``with ControlPlane(assets, workdir, run_id) as plane:`` a running API server; ``plane.client``
    talks to it as the admin, ``plane.kubeconfig`` is a kubeconfig file for the same user."""

    def __init__(
        self, assets: Assets, workdir: Path, run_id: str, *,
        etcd_timeout_s: float = ETCD_START_TIMEOUT_S, apiserver_timeout_s: float = APISERVER_START_TIMEOUT_S,
        node_address: str | None = None,
    ) -> None:  # fmt: skip
        self.assets = assets
        # With a node (``--cluster=node``, in a private network namespace only): the API server
        # also serves its pods, at the node's address and at the ``kubernetes`` Service's IP
        # (addresses of the node itself), on the Service's port.
        self.node_address = node_address
        self.workdir = workdir
        self.run_id = run_id
        self.etcd_timeout_s = etcd_timeout_s
        self.apiserver_timeout_s = apiserver_timeout_s
        self.children: list[Process] = []
        self.stopped: list[Process] = []  # children stopped before the control plane, as controllers are
        self.timings: dict[str, float] = {}
        self.server = ""
        self.kubeconfig = workdir / "kubeconfig"
        self._client: KubeClient | None = None
        self._certs: certs.Certificates | None = None
        self._cert_files: certs.CertFiles | None = None

    # -- lifecycle ------------------------------------------------------------------------------


    def start(self) -> None:
        started = time.monotonic()
        childprocs.reap_orphans("cluster", "a control-plane process")
        self.workdir.mkdir(parents=True, exist_ok=True)
        hosts = certs.SERVING_HOSTS if self.node_address is None else (*certs.SERVING_HOSTS, self.node_address, KUBERNETES_SERVICE_IP)
        self._certs = certs.generate(hosts=hosts)
        self._cert_files = self._certs.write(self.workdir / "pki")
        etcd_url = self._start_etcd()
        self.timings["etcd_s"] = time.monotonic() - started
        self._start_apiserver(etcd_url)
        self.write_kubeconfig(self.kubeconfig)
        self.timings["start_s"] = time.monotonic() - started
        ui.debug(f"control plane up at {self.server} in {self.timings['start_s']:.1f}s")

    def stop(self) -> None:
        """Stop every child, the last started first (controllers, then the API server, then etcd)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        while self.children:
            child = self.children.pop()
            try:
                child.stop()
            except Exception as exc:  # noqa: BLE001 - the others must still be stopped; said at debug level
                ui.debug(f"stopping {child.name} failed: {type(exc).__name__}: {exc}")

    def start_child(self, name: str, args: Sequence[str], *, env: Mapping[str, str] | None = None) -> Process:
        """Start a process that needs this control plane (a controller); it is stopped before it."""
        process = Process(name, args, log_path=self.workdir / "logs" / f"{name}.log", run_id=self.run_id, env=env)
        self.children.append(process)
        return process.start()

    def stop_child(self, process: Process) -> None:
        process.stop()
        if process in self.children:
            self.children.remove(process)
            self.stopped.append(process)

    def write_kubeconfig(self, path: Path, *, namespace: str | None = None) -> Path:
        """A kubeconfig for the admin client, its context in ``namespace``."""
        if self._certs is None:
            raise InfraError("the control plane has not been started")
        generated = self._certs
        text = kubeconfig.render(
            self.server, ca_pem=generated.ca.cert_pem, client_cert_pem=generated.client.cert_pem,
            client_key_pem=generated.client.key_pem, namespace=namespace,
        )  # fmt: skip
        path.touch(mode=0o600)
        path.write_text(text)
        return path

    @property
    def cert_files(self) -> certs.CertFiles:
        return self._require_certs()

    @property
    def client(self) -> KubeClient:
        if self._client is None:
            files = self._require_certs()
            self._client = KubeClient(self.server, ca_file=files.ca_cert, cert_file=files.client_cert, key_file=files.client_key)
        return self._client

    # -- etcd -----------------------------------------------------------------------------------

    def _start_etcd(self) -> str:
        client_port, peer_port = free_ports(2)
        client_url, peer_url = f"http://{LOOPBACK}:{client_port}", f"http://{LOOPBACK}:{peer_port}"
        args = [
            str(self.assets.etcd),
            "--name=default",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--log-level=warn",
        ]
        if etcd_version(self.assets.etcd) >= (3, 5):
            args.append("--unsafe-no-fsync")  # a throwaway store: durability buys nothing
        etcd = self.start_child("etcd", args)
        session = _plain_session()
        wait_until(lambda: _healthy(session, f"{client_url}/health"), time.monotonic() + self.etcd_timeout_s, etcd, f"etcd answering on {client_url}/health")
        return client_url

    # -- kube-apiserver -------------------------------------------------------------------------

    def _start_apiserver(self, etcd_url: str) -> None:
        files = self._require_certs()
        (port,) = free_ports(1) if self.node_address is None else (KUBERNETES_SERVICE_PORT,)
        self.server = f"https://{LOOPBACK}:{port}"
        args = [
            str(self.assets.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            f"--secure-port={port}",
            f"--bind-address={LOOPBACK if self.node_address is None else '0.0.0.0'}",
            f"--advertise-address={self.node_address or LOOPBACK}",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={files.serving_cert}",
            f"--tls-private-key-file={files.serving_key}",
            f"--client-ca-file={files.ca_cert}",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={files.service_account_public_key}",
            f"--service-account-signing-key-file={files.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--profiling=false",
        ]
        if etcd_version(self.assets.etcd) < (3, 5):
            args.append("--feature-gates=WatchList=false")
        apiserver = self.start_child("kube-apiserver", args)
        wait_until(lambda: self._ready(), time.monotonic() + self.apiserver_timeout_s, apiserver, f"kube-apiserver ready at {self.server}/readyz")

    def _ready(self) -> bool:
        try:
            response = self.client.session.get(f"{self.server}/readyz", timeout=2)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def _require_certs(self) -> certs.CertFiles:
        if self._cert_files is None:
            raise InfraError("the control plane has not been started")
        return self._cert_files


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that nothing listens on at 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@functools.lru_cache(maxsize=8)
def etcd_version(binary: Path) -> tuple[int, int]:
    """etcd's (major, minor) from ``etcd --version``; (0, 0) when it does not say."""
    try:
        output = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0, 0)
    match = re.search(r"etcd Version:\s*(\d+)\.(\d+)", output)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _plain_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _healthy(session: requests.Session, url: str) -> bool:
    try:
        response = session.get(url, timeout=2)
        return response.status_code == 200 and str(response.json().get("health")) == "true"
    except (requests.RequestException, ValueError, AttributeError):
        return False

