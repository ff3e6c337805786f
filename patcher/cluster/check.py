"""``python -m patcher.cluster.check SPEC.json``: one release's cluster proof, printed as JSON.

It starts etcd and kube-apiserver once, installs the release's CRDs, then checks each controller
of the spec one after the other (a fresh namespace and fresh cluster-scoped names for each), and
prints a ``CheckResult`` on stdout; everything else goes to stderr. It is meant to run where
nothing else listens and nothing outside can reach it: in a private network namespace
(``isolation.run_local``) or a container with no network (``isolation.run_container``), since
the controller always listens on :6060 and :9090.

SIGTERM is handled like Ctrl-C: the children are stopped in order before the check exits.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import yaml

from patcher import ui
from patcher.cluster import suite
from patcher.cluster.assets import Assets
from patcher.cluster.controlplane import ControlPlane
from patcher.cluster.kubeapi import ApiError
from patcher.cluster.spec import CheckResult, CheckSpec
from patcher.errors import ExitCode, InfraError, PatcherError
from patcher.runners.testresults import RunResult, RunStatus

CRD_SKIP = ("kustomization.yaml",)
CRD_ESTABLISH_TIMEOUT_S = 30.0


def run_check(spec: CheckSpec) -> CheckResult:
    """Run the spec's check here (whatever network this process is in)."""
    if spec.private_network:
        bring_loopback_up()
    result = CheckResult(runs={})
    assets = Assets(Path(spec.etcd), Path(spec.kube_apiserver))
    with tempfile.TemporaryDirectory(prefix="argo-patcher-cluster-") as scratch:
        try:
            with ControlPlane(assets, Path(scratch), spec.run_id, apiserver_timeout_s=spec.control_plane_timeout_s) as plane:
                result.timings.update(control_plane_s=plane.timings["start_s"], etcd_s=plane.timings["etcd_s"])
                crds_started = time.monotonic()
                install_crds(plane, Path(spec.crd_dir))
                result.timings["crds_s"] = time.monotonic() - crds_started
                suffix = secrets.token_hex(3)
                for controller in spec.controllers:
                    run = suite.run(
                        plane, Path(controller.binary), controller.role, spec.cases, suffix=suffix, timeout_s=spec.cases_timeout_s
                    )
                    result.runs[controller.role] = run
                    result.timings[f"{controller.role}_s"] = run.duration_s
                    result.timings.update(_peaks(plane, controller.role))
                result.timings.update(_peaks(plane, None))
        except (InfraError, ApiError) as exc:
            result.message = f"the control plane failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - argo-patcher's bug or a surprise: one line in the report, the traceback to debug
            ui.debug("".join(traceback.format_exception(exc)))
            result.message = f"the cluster check failed (argo-patcher's fault, report it): {one_line(exc)}"
        if result.message:
            for controller in spec.controllers:
                result.runs.setdefault(controller.role, RunResult(RunStatus.INFRA_ERROR, message=result.message))
    return result


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and its message's lines joined."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _peaks(plane: ControlPlane, role: str | None) -> dict[str, float]:
    """Peak memory in MiB: of the role's controllers (already stopped), or of etcd and the API server."""
    if role is not None:
        peaks = [p.peak_rss for p in plane.stopped if p.name.startswith(f"{role}-controller")]
        return {f"{role}_controller_peak_mib": max(peaks) / 2**20} if peaks else {}
    return {f"{p.name}_peak_mib": p.current_peak_rss() / 2**20 for p in plane.children if p.current_peak_rss()}


def install_crds(plane: ControlPlane, crd_dir: Path) -> list[str]:
    """Create every CRD of ``crd_dir`` (the release's manifests/base/crds/minimal) and wait until
    the API server serves them; returns their names."""
    files = sorted(p for p in crd_dir.glob("*.yaml") if p.name not in CRD_SKIP)
    if not files:
        raise InfraError(f"no CRDs in {crd_dir}; give the release's manifests/base/crds/minimal")
    names = []
    for path in files:
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            raise InfraError(f"the CRD file {path.name} is not valid YAML: {one_line(exc)}") from None
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                plane.client.create(document)
                names.append(document["metadata"]["name"])
    pending = plane.client.wait_established(names, time.monotonic() + CRD_ESTABLISH_TIMEOUT_S)
    if pending:
        raise InfraError(f"the API server did not establish the CRDs {', '.join(pending)} within {CRD_ESTABLISH_TIMEOUT_S:g}s")
    return names


_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def bring_loopback_up() -> None:
    """``ip link set lo up``: a new network namespace starts with its loopback down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        try:
            flags = struct.unpack("16sh", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
            if not flags & _IFF_UP:
                fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))
        except OSError as exc:
            raise InfraError(f"cannot bring the loopback interface up in the private network namespace: {exc.strerror or exc}") from None


def _terminate(signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    return run_main(argv, "patcher.cluster.check", lambda path: run_check(CheckSpec.load(path)), "the cluster check", "the control plane was stopped")


def run_main(argv: list[str] | None, module: str, check: Callable[[Path], Any], name: str, stopped: str) -> int:
    """A check's subprocess: ``check`` the spec file named by its one argument, print the result
    as JSON on its last line; any failure one line on stderr and an exit code (a traceback only at
    debug level), never a traceback in the report."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {module} SPEC.json", file=sys.stderr)
        return ExitCode.USAGE
    signal.signal(signal.SIGTERM, _terminate)
    try:
        result = check(Path(args[0]))
    except PatcherError as exc:
        ui.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error(f"interrupted; {stopped}")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one line for the report, whatever broke (a YAML error in a CRD); the traceback to debug
        ui.debug("".join(traceback.format_exception(exc)))
        ui.error(f"{name} failed: {one_line(exc)}")
        return ExitCode.INFRA
    print(json.dumps(result.to_json()))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
