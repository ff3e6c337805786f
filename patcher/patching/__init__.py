"""Stage 2, patching: a tree's Go read, and the fix rendered for it.

Owns ``go.mod`` (``gomod``), the Go syntax trees (``gosyntax``), the shape of a release's code
and the template variables it gives (``shapes``), rendering the Jinja templates (``render``,
``resources``), the imports of the patched files (``goimports``) and the patch plan (``patch``).
Imports the top of ``patcher`` and the source stage.
"""
