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
def cluster_build(rebuild: bool, missing: bool) -> None:
    """Build etcd and kube-apiserver once, pinned, into argo-patcher's cache.

    Kubernetes {k8s} and etcd {etcd} are compiled from the Go module proxy with the local Go, or
    without one with a Go image's Go in a container (about 8 minutes and 2.5 GB of memory the first time). A directory named by
    KUBEBUILDER_ASSETS, or binaries on PATH, are used instead of the cache when present.
    """
    found = assets.build(rebuild=rebuild, only_missing=missing)
    ui.out(f"etcd: {found.etcd} ({found.sources.get('etcd')})\nkube-apiserver: {found.kube_apiserver} ({found.sources.get('kube-apiserver')})")


cluster_build.help = (cluster_build.help or "").format(k8s=assets.KUBERNETES_VERSION, etcd=assets.ETCD_VERSION)
