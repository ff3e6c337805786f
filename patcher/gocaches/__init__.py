"""Stage 4, Go caches: what Go runs keep, and keeping it under a limit.

Owns argo-patcher's GOCACHEPROG program (``cacheprog/``, Go) and its trims to a size limit
(``gocache``), the watch that trims while a release builds (``cachewatch``), the results of runs
whose every input is known (``resultcache``) and the marks of commits a build cache has built
(``buildmarks``). Imports the top of ``patcher`` and the earlier stages.
"""
