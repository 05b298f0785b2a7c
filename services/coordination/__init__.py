"""Multi-agent coordination (schema `coordination`): scenario runs (`scenarios/`), task graphs (`tasks/`) and
the text utilities (`text/`), each with its own handlers, models and (for the first two) store.

The declaration lives in `service.py` and is imported on first use of `SERVICE`: the text utilities' worker
processes import `services.coordination.text.operations`, and so this package, and should load nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.coordination.service import SERVICE as SERVICE


def __getattr__(name: str) -> Any:
    if name == "SERVICE":
        from services.coordination.service import SERVICE

        return SERVICE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
