"""A single Kubernetes node on top of the control plane (``--cluster=node``): a private
containerd, pod networking, kube-controller-manager, kube-scheduler and kubelet.

It runs where the node check runs (``nodecheck``): as root, in namespaces of its own that
``isolation`` makes with ``unshare`` — a network namespace (only loopback and the pods' bridge;
nothing outside reaches it, nothing in it reaches outside), a mount namespace (every mount the
node makes, containerd's snapshots, the pods' volumes and network namespaces, goes when it ends)
and a PID namespace whose first process is the check (when it ends, for whatever reason, the
kernel kills every process left in it: containerd's shims and the pods' processes too).

* **containerd**: Debian's, its own config (``containerd_config``), root, state and socket under
  the run's directory, the CRI plugin on, runc with the cgroupfs driver (this host's cgroups are
  v1 with no systemd), overlayfs snapshots, the CNI plugins of ``containernetworking-plugins``.
  Its pods' OOM scores are never set below its own (``restrict_oom_score_adj``, as kind's rootless
  nodes do): without CAP_SYS_RESOURCE (this sandbox's bounding set lacks it) runc's init cannot
  lower one, and every sandbox, whose score CRI sets to -998, failed with only "can't get final
  child's PID from pipe: EOF" (runc's log: ``failed to update /proc/self/oom_score_adj``).
  ``/run/containerd`` is a tmpfs of the mount namespace, so the shims' sockets never meet the
  host's containerd. The images (``nodeimages``) are imported with ``ctr -n k8s.io images import``.
* **network**: a bridge ``cni0`` made before any pod, holding the node's address (``NODE_ADDRESS``)
  and the ``kubernetes`` Service's IP (10.0.0.1); the bridge CNI plugin attaches each pod to it.
  The API server listens on 443 in the namespace, so a pod reaches it at the address kubelet puts
  in its environment (``KUBERNETES_SERVICE_HOST``, the Service's IP): no kube-proxy and no
  iptables rules are needed for the one Service the pods use.
* **kubelet**: a ``KubeletConfiguration`` (``kubelet_config``) as kind runs kubelet inside a
  container: cgroupfs, swap allowed, its pods under a cgroup of the run's own
  (``cgroup_name``, created beforehand in every v1 hierarchy and removed at the end, or by the
  next run when this one was killed), cgroup v1 allowed, eviction and image garbage collection off, the admin's kubeconfig.
  The kernel settings kubelet insists on (``vm.overcommit_memory``, ``kernel.panic``...) are
  shown to it, in the mount namespace only, as files already holding its values, so the host's
  are never changed.

Children are stopped in reverse order (kubelet, the scheduler, the controller manager, then
every process left in the PID namespace — the pods' — then containerd), then the cgroups go.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from patcher import owners, ui
from patcher.cluster.assets import NodeAssets
from patcher.cluster.controlplane import KUBERNETES_SERVICE_IP, ControlPlane, Started, free_ports
from patcher.cluster.kubeapi import ApiError
from patcher.cluster.nodeimages import PAUSE_IMAGE, Archive
from patcher.errors import InfraError
from patcher.runners.childprocs import Process, wait_until

NODE_NAME = "argo-patcher-node"
NODE_ADDRESS = "10.22.0.1"
POD_SUBNET = "10.22.0.0/24"
BRIDGE = "cni0"
CNI_BIN_DIR = "/usr/lib/cni"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "argo-patcher-node-"
CONTAINERD_TIMEOUT_S = 30.0
NODE_READY_TIMEOUT_S = 90.0
# What kubelet sets at start unless already so (``setupKernelTunables``); system-wide, not ours to change.
KERNEL_TUNABLES = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}


def containerd_config(workdir: Path, *, runc: str, cni_conf_dir: Path) -> str:
    """containerd's config: everything under ``workdir``, the CRI plugin with runc and cgroupfs."""
    return f'''version = 2
root = "{workdir / "root"}"
state = "{workdir / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{socket_path(workdir)}"
[ttrpc]
  address = "{socket_path(workdir)}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{workdir / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{runc}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf_dir}"
'''


def socket_path(containerd_dir: Path) -> Path:
    return containerd_dir / "containerd.sock"


def cni_config(ipam_dir: Path) -> dict[str, Any]:
    """One network: the pods on the bridge, the node's address their gateway."""
    return {
        "cniVersion": "0.4.0",
        "name": "argo-patcher",
        "plugins": [
            {
                "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_ADDRESS}]], "routes": [{"dst": "0.0.0.0/0"}],
                         "dataDir": str(ipam_dir)},
            },
        ],
    }  # fmt: skip


def kubelet_config(*, runtime_socket: Path, cgroup_root: str, ca_file: Path, pod_logs: Path, port: int, healthz_port: int) -> dict[str, Any]:
    """The KubeletConfiguration of the node (after kind's for a kubelet in a container)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False}, "x509": {"clientCAFile": str(ca_file)}},
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "failSwapOn": False,
        "failCgroupV1": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "localStorageCapacityIsolation": False,
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"},
        "resolvConf": "",
        "podLogsDir": str(pod_logs),
        "serializeImagePulls": False,
        "nodeStatusUpdateFrequency": "2s",
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
    }


# -- cgroups: a tree of the run's own in every v1 hierarchy ------------------------------------------


def cgroup_name(token: str, pid: int | None = None) -> str:
    """The cgroup the node's pods go under, named by the process that owns the run (for reaping)
    and ``token`` (one per node of that process)."""
    pid = os.getpid() if pid is None else pid
    return f"{CGROUP_PREFIX}{pid}-{owners.start_time(pid) or 0}-{token}"


def hierarchies(root: Path = CGROUP_ROOT, *, unified: bool = False) -> list[Path]:
    """The mounted cgroup v1 hierarchies (cpu, memory, ..., name=systemd); with ``unified`` also
    the hybrid host's cgroup v2 tree, where runc makes each container's cgroup too."""
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists() and (unified or p.name != "unified")
    )


def make_cgroups(name: str, root: Path = CGROUP_ROOT) -> None:
    for hierarchy in hierarchies(root):
        path = hierarchy / name
        path.mkdir(exist_ok=True)
        if (hierarchy / "cpuset.cpus").exists():  # a new cpuset has no CPUs and no memory nodes until given its parent's
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (path / knob).write_text((hierarchy / knob).read_text())


def remove_cgroups(name: str, root: Path = CGROUP_ROOT, *, timeout_s: float = 10.0) -> list[str]:
    """Remove the tree ``name`` from every hierarchy, killing what still runs in it; what could not go."""
    left = []
    for hierarchy in hierarchies(root, unified=True):
        top = hierarchy / name
        if not top.is_dir():
            continue
        deadline = time.monotonic() + timeout_s
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True) + [top]:
            while True:
                _kill_members(directory)
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        left.append(str(directory))
                        break
                    time.sleep(0.1)
    return left


def _kill_members(directory: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        for line in (directory / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(line), signal.SIGKILL)


_OWNED = re.compile(rf"^{re.escape(CGROUP_PREFIX)}(\d+)-(\d+)-[\w]+$")


def reap_cgroups(root: Path = CGROUP_ROOT) -> list[str]:
    """Remove the node cgroups whose owning run is gone (killed before it could); their names."""
    reaped: set[str] = set()
    for hierarchy in hierarchies(root, unified=True):
        for path in hierarchy.glob(f"{CGROUP_PREFIX}*"):
            match = _OWNED.match(path.name)
            if match is None or path.name in reaped:
                continue
            pid, started = int(match.group(1)), match.group(2)
            if owners.alive(pid) and owners.start_time(pid) == started:
                continue
            ui.debug(f"removing the cgroups {path.name}, left by a node run that did not finish")
            remove_cgroups(path.name, root)
            reaped.add(path.name)
    return sorted(reaped)


# -- the node ------------------------------------------------------------------------------------------


class Node(Started):
    """``with Node(plane, node_assets, workdir, images, cgroup) as node:`` a Ready node."""

    def __init__(
        self, plane: ControlPlane, node_assets: NodeAssets, workdir: Path, images: Sequence[Archive], *, cgroup: str,
        ready_timeout_s: float = NODE_READY_TIMEOUT_S,
    ) -> None:  # fmt: skip
        self.plane = plane
        self.assets = node_assets
        self.workdir = workdir
        self.images = list(images)
        self.cgroup = cgroup
        self.ready_timeout_s = ready_timeout_s
        self.children: list[Process] = []
        self.stopped: list[Process] = []
        self.timings: dict[str, float] = {}
        self.containerd_dir = workdir / "containerd"
        self._cgroups_made = False


    # -- start ----------------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        mask_kernel_tunables(self.workdir / "sysctl")
        _mount_tmpfs(Path("/run/containerd"))
        make_cgroups(self.cgroup)
        self._cgroups_made = True
        self._start_containerd()
        self.timings["containerd_s"] = time.monotonic() - started
        imported = time.monotonic()
        for archive in self.images:
            self.ctr("images", "import", str(archive.path), doing=f"importing the image {archive.name}")
        self.timings["images_s"] = time.monotonic() - imported
        self._ensure_kubernetes_service()
        self._start_controller_manager()
        self._start_scheduler()
        self._start_kubelet()
        wait_until(self._ready, time.monotonic() + self.ready_timeout_s, self.children[-1], f"node {NODE_NAME} Ready", poll_s=0.2)
        self.timings["start_s"] = time.monotonic() - started
        ui.debug(f"node {NODE_NAME} Ready in {self.timings['start_s']:.1f}s")

    def _start_containerd(self) -> None:
        runc = shutil.which("runc") or "/usr/sbin/runc"
        containerd = shutil.which("containerd")
        if containerd is None:
            raise InfraError("no containerd on PATH for the node; install Debian's containerd (and containernetworking-plugins)")
        cni_dir = self.workdir / "cni" / "net.d"
        cni_dir.mkdir(parents=True, exist_ok=True)
        (cni_dir / "10-argo-patcher.conflist").write_text(json.dumps(cni_config(self.workdir / "cni" / "ipam"), indent=1))
        self.containerd_dir.mkdir(parents=True, exist_ok=True)
        config = self.containerd_dir / "config.toml"
        config.write_text(containerd_config(self.containerd_dir, runc=runc, cni_conf_dir=cni_dir))
        process = self._start("containerd", [containerd, "--config", str(config)])
        wait_until(lambda: self._ctr_ok(), time.monotonic() + CONTAINERD_TIMEOUT_S, process, "containerd answering on its socket", poll_s=0.1)

    def _ctr_ok(self) -> bool:
        try:
            return subprocess.run(self._ctr_args("version"), capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _ctr_args(self, *args: str) -> list[str]:
        return [shutil.which("ctr") or "ctr", "--address", str(socket_path(self.containerd_dir)), "--namespace", "k8s.io", *args]

    def ctr(self, *args: str, doing: str, timeout_s: float = 120.0) -> str:
        try:
            done = subprocess.run(self._ctr_args(*args), capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InfraError(f"{doing}: {exc}") from None
        if done.returncode != 0:
            raise InfraError(f"{doing} failed: {(done.stderr.strip().splitlines() or [f'exit code {done.returncode}'])[-1]}")
        return done.stdout

    def _start_controller_manager(self) -> None:
        (port,) = free_ports(1)
        files = self.plane.cert_files
        self._start("kube-controller-manager", [
            str(self.assets.kube_controller_manager), f"--kubeconfig={self.plane.kubeconfig}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={port}", f"--root-ca-file={files.ca_cert}",
            f"--service-account-private-key-file={files.service_account_key}", "--use-service-account-credentials=false",
            "--node-monitor-grace-period=20s",
        ])  # fmt: skip

    def _start_scheduler(self) -> None:
        (port,) = free_ports(1)
        self._start("kube-scheduler", [
            str(self.assets.kube_scheduler), f"--kubeconfig={self.plane.kubeconfig}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={port}",
        ])  # fmt: skip

    def _start_kubelet(self) -> None:
        port, healthz = free_ports(2)
        kubelet_dir = self.workdir / "kubelet"
        kubelet_dir.mkdir(parents=True, exist_ok=True)
        config = kubelet_config(
            runtime_socket=socket_path(self.containerd_dir), cgroup_root=f"/{self.cgroup}", ca_file=self.plane.cert_files.ca_cert,
            pod_logs=self.workdir / "pod-logs", port=port, healthz_port=healthz,
        )  # fmt: skip
        config_path = self.workdir / "kubelet-config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self._start("kubelet", [
            str(self.assets.kubelet), f"--config={config_path}", f"--kubeconfig={self.plane.kubeconfig}", f"--root-dir={kubelet_dir}",
            f"--cert-dir={kubelet_dir / 'pki'}", f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_ADDRESS}", "--v=1",
        ])  # fmt: skip

    def _start(self, name: str, args: Sequence[str]) -> Process:
        env = {"PATH": f"{CNI_BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.workdir)}
        process = Process(name, args, log_path=self.workdir / "logs" / f"{name}.log", run_id=self.plane.run_id, env=env)
        self.children.append(process)
        return process.start()

    def _ensure_kubernetes_service(self) -> None:
        """The ``kubernetes`` Service whose IP kubelet gives the pods: the API server makes it
        itself; made here if it has not yet (kubelet sets the pods' environment from it)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.plane.client.read("Service", "kubernetes", "default")
                return
            except ApiError as exc:
                if exc.status != 404:
                    raise
            time.sleep(0.2)
        service = {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": KUBERNETES_SERVICE_IP, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]},
        }  # fmt: skip
        with contextlib.suppress(ApiError):
            self.plane.client.create(service)

    def _ready(self) -> bool:
        try:
            node = self.plane.client.get(f"/api/v1/nodes/{NODE_NAME}")
        except ApiError:
            return False
        conditions = (node.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    # -- stop -----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """kubelet, the scheduler, the controller manager; the pods' processes; containerd; the cgroups."""
        containerd = next((p for p in self.children if p.name == "containerd"), None)
        plane = {p.pid for p in self.plane.children if p.alive()}  # the API server and etcd stop after the node
        while self.children:
            child = self.children.pop()
            if child is containerd:
                kill_namespace_processes(keep=plane | ({child.pid} if child.alive() else set()))
            with contextlib.suppress(Exception):
                child.stop()
            self.stopped.append(child)
        kill_namespace_processes(keep=plane)
        unmount_under(self.workdir)
        if self._cgroups_made:
            left = remove_cgroups(self.cgroup)
            if left:
                ui.warn(f"could not remove the node's cgroups {', '.join(left)}; the next run removes them")
            self._cgroups_made = False


def kill_namespace_processes(keep: set[int] | None = None, *, timeout_s: float = 10.0) -> None:
    """As the first process of a PID namespace of our own: kill every other process in it (the
    pods', containerd's shims), but ``keep``, and reap them. Elsewhere, nothing."""
    if os.getpid() != 1:
        return
    keep = {1, *(keep or set())}
    deadline = time.monotonic() + timeout_s
    while True:
        others = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and int(p.name) not in keep and not _exempt(int(p.name), keep)]
        live = [pid for pid in others if not _zombie(pid)]
        for pid in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _reap()
        if not live or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _exempt(pid: int, keep: set[int]) -> bool:
    """A process of our own making that stops itself (the kept ones' children)."""
    try:
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return ppid in keep - {1}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _reap() -> None:
    """Collect the orphans re-parented to this process (we are the PID namespace's init)."""
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return


def mask_kernel_tunables(directory: Path) -> None:
    """Show kubelet the kernel settings it wants as files bound over /proc/sys's, in this mount
    namespace only: it then changes none of the host's."""
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in KERNEL_TUNABLES.items():
        target = Path("/proc/sys") / key
        if not target.exists():
            continue
        with contextlib.suppress(OSError):
            if target.read_text().strip() == value:
                continue
        stand_in = directory / key.replace("/", ".")
        stand_in.write_text(value + "\n")
        _mount(["--bind", str(stand_in), str(target)], f"showing kubelet {key} as {value}")


def _mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _mount(["-t", "tmpfs", "-o", "mode=0711", "tmpfs", str(path)], f"a tmpfs on {path}")


def _mount(args: list[str], what: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise InfraError(f"{what} (mount {' '.join(args)}): {done.stderr.strip() or done.returncode}")


def setup_network(run: Any = subprocess.run) -> None:
    """The pods' bridge, holding the node's address and the ``kubernetes`` Service's IP; up."""
    for args in (
        ["link", "add", BRIDGE, "type", "bridge"],
        ["addr", "add", f"{NODE_ADDRESS}/24", "dev", BRIDGE],
        ["addr", "add", f"{KUBERNETES_SERVICE_IP}/32", "dev", BRIDGE],
        ["link", "set", BRIDGE, "up"],
    ):
        done = run(["ip", *args], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise InfraError(f"ip {' '.join(args)} in the node's network namespace: {done.stderr.strip() or done.returncode}")


def unmount_under(directory: Path) -> list[str]:
    """Unmount (lazily) every mount at or under ``directory``, deepest first; what would not go."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    prefix = str(directory.resolve())
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    left = []
    for point in sorted(set(points), key=len, reverse=True):
        done = subprocess.run(["umount", "-l", point], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            left.append(point)
    return left
