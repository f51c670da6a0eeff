"""Which models a list shows by default: the one rule, for every list.

Chat models (and those nothing says otherwise of) that are not retired; `--all` shows the
rest. Standard library only and data only, so shell completion applies the same rule to the
cache file without importing pydantic; `domain.Model.listed_by_default` uses it too.
"""

from __future__ import annotations


def listed_by_default(kind: object, status: object) -> bool:
    return kind in (None, "chat") and status != "retired"
