"""What ``python -m patcher.cluster.check SPEC.json`` is asked to do, and what it answers.

The spec names files only (binaries, the CRD directory), so that the same check runs here, in a
private network namespace, or in a container where those files are mounted elsewhere. The
result carries one ``RunResult`` per controller, losslessly (each case's status, duration and
output), plus the control plane's timings and peak memory.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from patcher.errors import InputError
from patcher.harness.contract import CASE_IDS
from patcher.runners.testresults import RunResult, RunStatus, Status, TestResult

ROLES = ("baseline", "patched")
DEFAULT_CONTROL_PLANE_TIMEOUT_S = 90.0
DEFAULT_CASES_TIMEOUT_S = 60.0


@dataclasses.dataclass(frozen=True)
class ControllerSpec:
    role: str  # "baseline" or "patched": names its namespace and its result
    binary: str


@dataclasses.dataclass(frozen=True)
class CheckSpec:
    etcd: str
    kube_apiserver: str
    crd_dir: str
    controllers: tuple[ControllerSpec, ...]
    cases: tuple[str, ...] = CASE_IDS
    run_id: str = "cluster-check"
    control_plane_timeout_s: float = DEFAULT_CONTROL_PLANE_TIMEOUT_S
    cases_timeout_s: float = DEFAULT_CASES_TIMEOUT_S  # for each controller, from its start to its last case
    private_network: bool = False  # bring the loopback interface up first (a fresh network namespace has it down)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["controllers"] = [dataclasses.asdict(c) for c in self.controllers]
        data["cases"] = list(self.cases)
        return data

    @classmethod
    def from_json(cls, data: Any) -> CheckSpec:
        if not isinstance(data, dict):
            raise InputError("the cluster check spec must be a JSON object")
        try:
            controllers = tuple(ControllerSpec(str(c["role"]), str(c["binary"])) for c in data["controllers"])
            spec = cls(
                etcd=str(data["etcd"]),
                kube_apiserver=str(data["kube_apiserver"]),
                crd_dir=str(data["crd_dir"]),
                controllers=controllers,
                cases=tuple(str(c) for c in data.get("cases", CASE_IDS)),
                run_id=str(data.get("run_id", "cluster-check")),
                control_plane_timeout_s=float(data.get("control_plane_timeout_s", DEFAULT_CONTROL_PLANE_TIMEOUT_S)),
                cases_timeout_s=float(data.get("cases_timeout_s", DEFAULT_CASES_TIMEOUT_S)),
                private_network=bool(data.get("private_network", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"the cluster check spec lacks or mistypes a field ({type(exc).__name__}: {exc}); see patcher/cluster/spec.py") from None
        unknown = [c for c in spec.cases if c not in CASE_IDS]
        if unknown:
            raise InputError(f"the cluster check spec names unknown cases: {', '.join(unknown)}; known: {', '.join(CASE_IDS)}")
        roles = [c.role for c in spec.controllers]
        if not controllers or len(set(roles)) != len(roles) or any(r not in ROLES for r in roles):
            raise InputError(f"the cluster check spec needs one controller per role, of {', '.join(ROLES)}; it has {roles}")
        return spec

    @classmethod
    def load(cls, path: Path) -> CheckSpec:
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the cluster check spec {path}: {exc}") from None


@dataclasses.dataclass
class CheckResult:
    runs: dict[str, RunResult]  # role -> result
    timings: dict[str, float] = dataclasses.field(default_factory=dict)  # seconds, and peak memory in MiB
    message: str = ""  # why the control plane could not be had, if it could not

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": {role: encode_run(run) for role, run in self.runs.items()},
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Any) -> CheckResult:
        try:
            return cls(
                runs={str(role): decode_run(run) for role, run in data["runs"].items()},
                timings={str(k): float(v) for k, v in (data.get("timings") or {}).items()},
                message=str(data.get("message", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a cluster check result: {type(exc).__name__}: {exc}") from None


def encode_run(run: RunResult) -> dict[str, Any]:
    return {
        "status": run.status.value,
        "duration_s": round(run.duration_s, 3),
        "message": run.message,
        "tests": {
            name: {"status": t.status.value, "duration_s": round(t.duration_s, 3), "output": t.output} for name, t in run.tests.items()
        },
    }


def decode_run(data: dict[str, Any]) -> RunResult:
    tests = {
        str(name): TestResult(str(name), Status(t["status"]), float(t.get("duration_s", 0.0)), str(t.get("output", "")))
        for name, t in (data.get("tests") or {}).items()
    }
    return RunResult(RunStatus(data["status"]), tests, float(data.get("duration_s", 0.0)), str(data.get("message", "")))
