"""Stage 1, source: where a release's tree comes from.

Owns the mirrors of Argo's repository (``mirrors``: one bare mirror per source, behind a file
lock), what a version spec names (``versions``: release tags, lines, ranges, branches, commits),
the clean trees of releases (``checkout``: a detached worktree each) and running git
(``gitcmd``). Imports only the cross-cutting modules at the top of ``patcher``.
"""
