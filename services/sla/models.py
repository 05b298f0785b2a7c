"""Request models of the SLA service."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, StringConstraints

from shared.models import Request


class Empty(Request):
    pass


class ContactForm(Request):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    email: EmailStr
    subject: Annotated[str, StringConstraints(max_length=200)] = ""
    message: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
