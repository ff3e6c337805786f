"""Stage 8, delivery: what argo-patcher hands over.

Owns the patched tree as a diff, an mbox or a commit on a branch (``handover``), the patched
``workflow-controller`` built as the release's Makefile builds it (``controller``) and its image
for operators (``controllerimage``), and argo-patcher's own image (``selfimage``). Imports the top
of ``patcher`` and the earlier stages.
"""
