"""Request models of the SLA service."""
from __future__ import annotations

from shared.models import Request


class Empty(Request):
    pass
