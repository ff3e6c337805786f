"""``patcher cluster``: the control plane's binaries (register ``cluster`` in ``patcher.cli``)."""

from __future__ import annotations

import click

from patcher import ui
from patcher.cluster import assets


@click.group()
def cluster() -> None:
    """The real Kubernetes API server that `--cluster` proves controllers against."""


@cluster.command("build")
@click.option("--rebuild", is_flag=True, help="Build again even if the cache has them.")
@click.option("--missing", is_flag=True, help="Build only what KUBEBUILDER_ASSETS, PATH and the cache lack (an etcd from Debian's etcd-server will do).")
@click.option("--node", is_flag=True, help="Also the node's kube-controller-manager, kube-scheduler and kubelet (for --cluster=node).")
def cluster_build(rebuild: bool, missing: bool, node: bool) -> None:
    """Build etcd and kube-apiserver once, pinned, into argo-patcher's cache.

    Kubernetes {k8s} and etcd {etcd} are compiled from the Go module proxy with the local Go, or
    without one with a Go image's Go in a container (about 8 minutes and 2.5 GB of memory the first
    time); with --node also kube-controller-manager, kube-scheduler and kubelet. A directory named by
    KUBEBUILDER_ASSETS, or binaries on PATH, are used instead of the cache when present.
    """
    found = assets.build(rebuild=rebuild, only_missing=missing, node=node)
    ui.out(f"etcd: {found.etcd} ({found.sources.get('etcd')})\nkube-apiserver: {found.kube_apiserver} ({found.sources.get('kube-apiserver')})")
    node_found = assets.find_node() if node else None
    if node_found is not None:
        for path in (node_found.kube_controller_manager, node_found.kube_scheduler, node_found.kubelet):
            ui.out(f"{path.name}: {path} ({node_found.sources.get(path.name)})")


cluster_build.help = (cluster_build.help or "").format(k8s=assets.KUBERNETES_VERSION, etcd=assets.ETCD_VERSION)
