"""Request model of the text utilities."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from shared.models import Request, Text


class TextProcess(Request):
    text: Annotated[Text, StringConstraints(max_length=50_000)]
    operation: Annotated[Text, StringConstraints(max_length=64)]
