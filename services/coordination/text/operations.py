"""The text utilities themselves: pure functions of the text, in the original's operation order."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from typing import Any

URL = re.compile(r'https?://[^\s<>"{}|\\^\[\]]+')
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def word_count(text: str) -> dict[str, Any]:
    return {"word_count": len(text.split())}


def char_count(text: str) -> dict[str, Any]:
    return {"char_count": len(text), "char_count_no_spaces": len(text.replace(" ", ""))}


def extract_urls(text: str) -> dict[str, Any]:
    return {"urls": URL.findall(text)}


def extract_emails(text: str) -> dict[str, Any]:
    return {"emails": EMAIL.findall(text)}


def tokenize_sentences(text: str) -> dict[str, Any]:
    return {"sentences": [s.strip() for s in SENTENCE_END.split(text) if s.strip()]}


def deduplicate_lines(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    unique = list(dict.fromkeys(lines))
    return {"lines": unique, "removed": len(lines) - len(unique)}


def hash_sha256(text: str) -> dict[str, Any]:
    return {"hash": hashlib.sha256(text.encode()).hexdigest()}


def base64_encode(text: str) -> dict[str, Any]:
    return {"encoded": base64.b64encode(text.encode()).decode()}


def base64_decode(text: str) -> dict[str, Any]:
    """Strict: invalid base64 or bytes that are not UTF-8 text raise ValueError."""
    try:
        return {"decoded": base64.b64decode(text.encode(), validate=True).decode()}
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid base64 of UTF-8 text ({exc})") from None


OPERATIONS: dict[str, Callable[[str], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        word_count,
        char_count,
        extract_urls,
        extract_emails,
        tokenize_sentences,
        deduplicate_lines,
        hash_sha256,
        base64_encode,
        base64_decode,
    )
}
