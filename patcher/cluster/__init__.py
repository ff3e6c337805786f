"""Proving the patched controller against a real Kubernetes API server (etcd + kube-apiserver, no kubelet)."""
