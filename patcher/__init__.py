"""argo-patcher: backport and prove the Argo Workflows podMetadata precedence fix."""

__version__ = "0.1.0"
