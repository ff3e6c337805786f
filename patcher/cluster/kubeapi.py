"""Just enough of a Kubernetes API client: JSON over HTTPS with a client certificate.

No kubectl and no client library: the check creates a handful of kinds, lists pods and
workflows, and patches pod status, which plain ``requests`` does in a few lines.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

ARGO_GROUP = "argoproj.io/v1alpha1"
REQUEST_TIMEOUT_S = 15
# kind -> (API path prefix, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Pod": ("/api/v1", "pods", True),
    "Node": ("/api/v1", "nodes", False),
    "Service": ("/api/v1", "services", True),
    "Secret": ("/api/v1", "secrets", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "PriorityClass": ("/apis/scheduling.k8s.io/v1", "priorityclasses", False),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "Workflow": (f"/apis/{ARGO_GROUP}", "workflows", True),
    "WorkflowTemplate": (f"/apis/{ARGO_GROUP}", "workflowtemplates", True),
    "ClusterWorkflowTemplate": (f"/apis/{ARGO_GROUP}", "clusterworkflowtemplates", False),
}

Object = dict[str, Any]


class ApiError(Exception):
    """The API server answered with an error status (or not at all)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def collection_path(kind: str, namespace: str | None = None) -> str:
    prefix, plural, namespaced = KINDS[kind]
    if namespaced:
        if not namespace:
            raise ValueError(f"{kind} is namespaced: name a namespace")
        return f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{prefix}/{plural}"


def object_path(kind: str, name: str, namespace: str | None = None) -> str:
    return f"{collection_path(kind, namespace)}/{name}"


class KubeClient:
    def __init__(self, server: str, *, ca_file: Path, cert_file: Path, key_file: Path) -> None:
        self.server = server.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # a proxy from the environment must not see loopback traffic
        self.session.verify = str(ca_file)
        self.session.cert = (str(cert_file), str(key_file))

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, *, body: Object | None = None, params: dict[str, str] | None = None,
                content_type: str = "application/json", timeout: float = REQUEST_TIMEOUT_S) -> Object:  # fmt: skip
        try:
            response = self.session.request(
                method, self.server + path, json=body, params=params, headers={"Content-Type": content_type}, timeout=timeout
            )
        except requests.RequestException as exc:
            raise ApiError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            try:
                message = str(response.json().get("message", response.text))
            except ValueError:
                message = response.text
            raise ApiError(f"{method} {path}: {response.status_code} {' '.join(message.split())[:300]}", response.status_code)
        return response.json() if response.content else {}

    def get(self, path: str) -> Object:
        return self.request("GET", path)

    def create(self, obj: Object) -> Object:
        metadata = obj.get("metadata", {})
        return self.request("POST", collection_path(obj["kind"], metadata.get("namespace")), body=obj)

    def items(self, kind: str, namespace: str | None = None, *, label_selector: str | None = None) -> list[Object]:
        params = {"labelSelector": label_selector} if label_selector else None
        return list(self.request("GET", collection_path(kind, namespace), params=params).get("items") or [])

    def read(self, kind: str, name: str, namespace: str | None = None) -> Object:
        return self.get(object_path(kind, name, namespace))

    def set_pod_phase(self, name: str, namespace: str, phase: str) -> Object:
        """Play the kubelet: set a pod's phase through the pods/status subresource."""
        patch = {"status": {"phase": phase}}
        return self.request(
            "PATCH", object_path("Pod", name, namespace) + "/status", body=patch, content_type="application/merge-patch+json"
        )

    def wait_established(self, crd_names: list[str], deadline: float) -> list[str]:
        """Wait until the API server serves each CRD; returns those that it still does not."""
        pending: list[str] = [*crd_names]
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                crd = self.read("CustomResourceDefinition", name)
                conditions = (crd.get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                    pending.remove(name)
            if pending:
                time.sleep(0.05)
        return pending
