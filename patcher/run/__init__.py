"""Stage 6, run: proving releases.

Owns one release end to end (``pipeline``: checkout, patch, baseline and patched runs, the
extra proofs, the hand-over), many releases side by side (``matrix``: the one orchestrator),
their progress on a terminal or in a log (``progress``) and what the runs mean together
(``results``: a release's verdict). Imports the top of ``patcher`` and the earlier stages; the
later ones (delivery, reports, cluster) reach it through what the CLI wires in.
"""
