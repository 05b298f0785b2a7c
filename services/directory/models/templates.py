"""Template requests."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from shared.models import Request


class TemplateRef(Request):
    template_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
