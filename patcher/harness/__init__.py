"""Stage 3, harness: the precedence contract and the Go harness that checks it.

Owns the contract's vocabulary and cases (``contract``) and ``go-fixtures/`` rendered for a
tree's test helpers (``fixture``). Imports the top of ``patcher`` and the earlier stages
(source, patching).
"""
