"""Where the check runs: in a private network namespace here, or in a container with no network.

The workflow-controller always listens on :6060 and :9090, and the API server must be reached by
nothing but the check. Both modes give each check a network of its own, with only a loopback
interface: nothing outside can reach it, and checks of several releases never clash.

* ``local``: ``unshare --net`` (as root; otherwise with a user namespace mapping this user to
  root, ``unshare --user --map-root-user --net``) runs ``python -m patcher.cluster.check`` with
  this machine's Python; the check brings the loopback up first. Refused, with the reason, where
  no such namespace can be made.
* ``container``: the same entry point in argo-patcher's own image (``cluster.image``), with
  ``network_mode=none``, the binaries, the CRDs and the spec mounted read-only, labelled like the
  test containers (removed at the end, on Ctrl-C, and by the next run after a kill).

Either way the check is stopped with SIGTERM (it then stops its children in order) and killed
after a grace period, on timeout and on interruption.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from docker.types import Mount

from patcher import selfcode, ui
from patcher.cluster import image as check_image
from patcher.cluster.spec import CheckResult, CheckSpec, ControllerSpec
from patcher.delivery import selfimage
from patcher.errors import InfraError, InputError
from patcher.runners import childprocs, engine, images
from patcher.runners.base import supervise
from patcher.runners.testresults import RunResult, RunStatus

MODES = ("auto", "local", "container")
STOP_GRACE_S = 15.0  # the check stops its controllers, the API server and etcd in turn
MAX_OUTPUT_BYTES = 4 << 20
CONTAINER_ROOT = "/cluster"


def run(spec: CheckSpec, *, mode: str = "auto", timeout_s: float, run_id: str) -> CheckResult:
    """Run ``spec`` in a network of its own; see the module's docstring for ``mode``."""
    return {"local": run_local, "container": run_container}[choose_mode(mode)](spec, timeout_s=timeout_s, run_id=run_id)


def choose_mode(mode: str) -> str:
    """``auto``: a private network namespace here when one can be made, else a container."""
    if mode not in MODES:
        raise InputError(f"cluster mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    try:
        netns_command()
        return "local"
    except InfraError as local_why:
        ok, docker_why = engine.available()
        if ok:
            return "container"
        raise InfraError(f"{local_why}; and {docker_why.split(';')[0]} for the container mode") from None


# -- local: a private network namespace ----------------------------------------------------------


@functools.lru_cache(maxsize=1)
def netns_command() -> tuple[str, ...]:
    """The command prefix that runs a program in a new network namespace; ``InfraError`` naming
    why when none can be made here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise InfraError("cannot make a private network namespace: no `unshare` on PATH; install util-linux, or use the container mode")
    prefix = (unshare, "--net") if os.geteuid() == 0 else (unshare, "--user", "--map-root-user", "--net")
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfraError(f"cannot make a private network namespace ({' '.join(prefix)}: {exc}); use the container mode") from None
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]
        hint = "" if os.geteuid() == 0 else "run as root or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or "
        raise InfraError(f"cannot make a private network namespace ({' '.join(prefix[1:])}: {why}); {hint}use the container mode")
    return prefix


def _pinned_code_env() -> dict[str, str]:
    """The environment of a check's subprocess: the code this process pinned at its start
    (``selfcode``), not what may have been edited since."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(selfcode.root()), os.environ.get("PYTHONPATH")]))}


def run_local(spec: CheckSpec, *, timeout_s: float, run_id: str) -> CheckResult:
    prefix = netns_command()
    childprocs.reap_orphans("cluster", "a cluster check process")
    with tempfile.TemporaryDirectory(prefix="argo-patcher-check-") as scratch:
        spec_path = Path(scratch, "spec.json")
        spec_path.write_text(json.dumps(dataclasses.replace(spec, private_network=True).to_json()))
        command = [*prefix, sys.executable, "-m", "patcher.cluster.check", str(spec_path)]
        env = _pinned_code_env()
        stdout_path, stderr_path = Path(scratch, "stdout"), Path(scratch, "stderr")
        ui.debug(f"[{run_id}] {' '.join(command)}")
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            # In the scratch directory: ``-m`` puts the working directory first on sys.path, and a checkout of argo-patcher there would win.
            check = childprocs.Group(command, name="the cluster check", run_id=run_id, kind="cluster", cwd=Path(scratch), env=env, stdout=stdout, stderr=stderr,
                                     grace_s=STOP_GRACE_S)  # fmt: skip
        with check:  # SIGTERM first: the check stops its children in order
            timed_out = check.supervise(timeout_s)
        return _outcome(spec, _read(stdout_path), _read(stderr_path), check.proc.returncode, timed_out, timeout_s)


def _read(path: Path) -> str:
    with path.open("rb") as f:
        return f.read(MAX_OUTPUT_BYTES).decode("utf-8", "replace")


# -- container: no network at all -----------------------------------------------------------------


def run_container(spec: CheckSpec, *, timeout_s: float, run_id: str) -> CheckResult:
    image_ref = check_image.ensure()
    docker_client = engine.client()
    engine.reap_orphans(docker_client)
    inside, mounts = _container_spec(spec)
    with tempfile.TemporaryDirectory(prefix="argo-patcher-check-") as scratch:
        spec_path = Path(scratch, "spec.json")
        spec_path.write_text(json.dumps(inside.to_json()))
        spec_path.chmod(0o644)
        mounts.append(Mount(f"{CONTAINER_ROOT}/spec.json", str(spec_path), type="bind", read_only=True))
        python = f"{selfimage.PYTHON_HOME}/bin/python3"
        create: dict[str, Any] = {
            "entrypoint": [python, "-m", "patcher.cluster.check", f"{CONTAINER_ROOT}/spec.json"], "command": [],
            "user": f"{images.USER_UID}:{images.USER_UID}",
            "environment": {"ARGO_PATCHER_CACHE": "/tmp/argo-patcher-cache", "HOME": "/tmp", "TMPDIR": "/tmp"},
            "mounts": mounts, "tmpfs": {"/tmp": "rw,exec,mode=1777,size=2g"}, "network_mode": "none",
        }  # fmt: skip
        started = time.monotonic()
        # Stopped with SIGTERM first when it still runs (interrupted), so that it stops its children in order.
        with engine.hardened_container(docker_client, image_ref, role="cluster", run_id=run_id, stop_grace_s=STOP_GRACE_S, **create) as container:
            timed_out = supervise(lambda t: _container_ended(container, t), started + timeout_s)
            if timed_out:
                with contextlib.suppress(*engine.DockerError):
                    container.stop(timeout=int(STOP_GRACE_S))
            with engine.errors_as_infra("reading the cluster check's output"):
                code = int(container.wait(timeout=STOP_GRACE_S + 5).get("StatusCode", -1))
                stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
                stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            return _outcome(spec, stdout, stderr, code, timed_out, timeout_s)


def _container_spec(spec: CheckSpec) -> tuple[CheckSpec, list[Mount]]:
    """The spec as the container sees it, and the read-only mounts that make it so."""
    mounts = [
        Mount(f"{CONTAINER_ROOT}/bin/etcd", str(Path(spec.etcd).resolve()), type="bind", read_only=True),
        Mount(f"{CONTAINER_ROOT}/bin/kube-apiserver", str(Path(spec.kube_apiserver).resolve()), type="bind", read_only=True),
        Mount(f"{CONTAINER_ROOT}/crds", str(Path(spec.crd_dir).resolve()), type="bind", read_only=True),
    ]
    controllers = []
    for controller in spec.controllers:
        target = f"{CONTAINER_ROOT}/bin/{controller.role}/workflow-controller"
        mounts.append(Mount(target, str(Path(controller.binary).resolve()), type="bind", read_only=True))
        controllers.append(ControllerSpec(controller.role, target))
    inside = dataclasses.replace(
        spec, etcd=f"{CONTAINER_ROOT}/bin/etcd", kube_apiserver=f"{CONTAINER_ROOT}/bin/kube-apiserver", crd_dir=f"{CONTAINER_ROOT}/crds",
        controllers=tuple(controllers), private_network=False,
    )  # fmt: skip
    return inside, mounts


def _container_ended(container: Any, timeout: float) -> bool:
    try:
        container.wait(timeout=max(timeout, 0.05))
    except engine.DockerError:
        return False  # the wait's own timeout: still running
    return True


# -- what the check said ---------------------------------------------------------------------------


def _outcome(spec: CheckSpec, stdout: str, stderr: str, code: int | None, timed_out: bool, timeout_s: float) -> CheckResult:
    return _check_outcome("the cluster check", [c.role for c in spec.controllers], stdout, stderr, code, timed_out, timeout_s)


def _check_outcome(name: str, roles: list[str], stdout: str, stderr: str, code: int | None, timed_out: bool, timeout_s: float) -> CheckResult:
    """The result a check printed as its last line; else each role's run an error saying how it ended."""
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if not timed_out and last.startswith("{"):
        try:
            return CheckResult.from_json(json.loads(last))
        except ValueError:
            pass
    tail = "\n".join(stderr.strip().splitlines()[-15:])
    if timed_out:
        status, why = RunStatus.TIMEOUT, f"{name} timed out after {timeout_s:g}s and was stopped"
    else:
        status, why = RunStatus.INFRA_ERROR, f"{name} ended with exit code {code} and no result"
    message = f"{why}: {tail}" if tail else why
    return CheckResult(runs={role: RunResult(status, message=message) for role in roles}, message=message)


# -- the node: network, mount and PID namespaces of its own (root only) ------------------------------

NODE_UNSHARE = ("--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private")


def node_prerequisites() -> list[str]:
    """What ``--cluster=node`` lacks here: each missing thing, said so that it can be fixed."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (kubelet and containerd mount, make cgroups and network devices)")
    for tool, package in (("unshare", "util-linux"), ("containerd", "containerd"), ("ctr", "containerd"), ("runc", "runc"), ("ip", "iproute2"),
                          ("mount", "mount")):  # fmt: skip
        if shutil.which(tool) is None:
            missing.append(f"{tool} (Debian's {package})")
    from patcher.cluster import node

    if not all(Path(node.CNI_BIN_DIR, plugin).exists() for plugin in ("bridge", "host-local", "loopback")):
        missing.append(f"the CNI plugins bridge, host-local and loopback in {node.CNI_BIN_DIR} (Debian's containernetworking-plugins)")
    hierarchies = node.hierarchies()
    if not hierarchies:
        missing.append(f"cgroup v1 hierarchies under {node.CGROUP_ROOT} (this node runs kubelet with cgroupfs on cgroup v1)")
    elif not os.access(hierarchies[0], os.W_OK):
        missing.append(f"a writable {hierarchies[0]}")
    return missing


def run_node(spec: Any, *, timeout_s: float, run_id: str) -> CheckResult:
    """Run the node check ``spec`` (a ``nodecheck.NodeSpec``) in namespaces of its own; what a
    killed run left (its check's process group, its cgroups) is removed first."""
    from patcher.cluster import node

    missing = node_prerequisites()
    if missing:
        raise InfraError(f"--cluster=node needs {'; '.join(missing)}")
    childprocs.reap_orphans("cluster", "a cluster check process")
    node.reap_cgroups()
    roles = [c.role for c in spec.controllers] or ["smoke"]
    with tempfile.TemporaryDirectory(prefix="argo-patcher-nodecheck-") as scratch:
        spec_path = Path(scratch, "spec.json")
        spec_path.write_text(json.dumps(spec.to_json()))
        command = [shutil.which("unshare") or "unshare", *NODE_UNSHARE, sys.executable, "-m", "patcher.cluster.nodecheck", str(spec_path)]
        env = _pinned_code_env()
        stdout_path, stderr_path = Path(scratch, "stdout"), Path(scratch, "stderr")
        ui.debug(f"[{run_id}] {' '.join(command)}")
        try:
            with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
                check = childprocs.Group(command, name="the node check", run_id=run_id, kind="cluster", cwd=Path(scratch), env=env, stdout=stdout,
                                         stderr=stderr, grace_s=NODE_STOP_GRACE_S)  # fmt: skip
            with check:
                timed_out = check.supervise(timeout_s)
        finally:
            left = node.remove_cgroups(spec.cgroup)
            if left:
                ui.warn(f"could not remove the node's cgroups {', '.join(left)}")
        return _node_outcome(roles, _read(stdout_path), _read(stderr_path), check.proc.returncode, timed_out, timeout_s)


NODE_STOP_GRACE_S = 40.0  # kubelet, the scheduler, the controller manager, the pods, containerd, the API server, etcd


def _node_outcome(roles: list[str], stdout: str, stderr: str, code: int | None, timed_out: bool, timeout_s: float) -> CheckResult:
    return _check_outcome("the node check", roles, stdout, stderr, code, timed_out, timeout_s)
