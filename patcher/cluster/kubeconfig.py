"""A kubeconfig for the control plane's admin client, with the certificates inline."""

from __future__ import annotations

import base64

import yaml

CONTEXT = "argo-patcher"


def render(server: str, *, ca_pem: bytes, client_cert_pem: bytes, client_key_pem: bytes, namespace: str | None = None) -> str:
    """A kubeconfig whose one context reaches ``server`` as the client of ``client_cert_pem``."""
    context: dict[str, str] = {"cluster": CONTEXT, "user": CONTEXT}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": CONTEXT, "user": {"client-certificate-data": _b64(client_cert_pem), "client-key-data": _b64(client_key_pem)}}],
        "contexts": [{"name": CONTEXT, "context": context}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
