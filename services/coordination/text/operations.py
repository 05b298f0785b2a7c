r"""The text utilities themselves: pure functions of the text, in the original's operation order.

Every one is linear in the length of the text, whatever the text: the patterns are written so the regex
engine never rescans a run of characters from each of its positions (the original e-mail pattern,
`[\w.+-]+@[\w-]+\.[\w.-]+` searched from every position, took seconds on 50,000 letters without an `@`).
They are pure and picklable, so the service runs them in worker processes (services.coordination.text.pool).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

# One greedy run with nothing after it: a match never backtracks, and a failed start costs one character.
URL = re.compile(r'https?://[^\s<>"{}|\\^\[\]]+')
# An address is a local part (a maximal run of LOCAL characters) right before an "@", then a DOMAIN anchored
# right after it. Each run of LOCAL characters is visited once; runs on either side of different "@"s are
# disjoint (the "@" is in neither class), so the scan is linear.
LOCAL = re.compile(r"[\w.+-]+")
DOMAIN = re.compile(r"[\w-]+\.[\w.-]+")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")  # a whole address (checked anchored, with fullmatch)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
TRAILING = ".,;:!?)"  # punctuation that ends the sentence around a link or an address, not the match


def word_count(text: str) -> dict[str, Any]:
    return {"word_count": len(text.split())}


def char_count(text: str) -> dict[str, Any]:
    return {"char_count": len(text), "char_count_no_spaces": len(text.replace(" ", ""))}


def _trim(match: str) -> str:
    """Drop trailing sentence punctuation; a ")" only when the match has more ")" than "(" (so the closing
    parenthesis of `https://en.wikipedia.org/wiki/Foo_(bar)` stays)."""
    while match and match[-1] in TRAILING:
        if match[-1] == ")" and match.count("(") >= match.count(")"):
            break
        match = match[:-1]
    return match


def extract_urls(text: str) -> dict[str, Any]:
    urls = (_trim(u) for u in URL.findall(text))
    return {"urls": [u for u in urls if u.split("://", 1)[1]]}


def _email_matches(text: str) -> list[str]:
    """What `EMAIL.findall(text)` finds (leftmost matches, each search resuming where the last ended), in
    one pass: for each run of local-part characters that ends at an "@", the match starts at the run's start
    (or where the previous match ended, inside it) and needs a domain right after the "@"."""
    found: list[str] = []
    resume = 0
    for run in LOCAL.finditer(text):
        at = run.end()
        if at >= len(text) or text[at] != "@":
            continue
        start = max(resume, run.start())
        if start >= at:
            continue
        domain = DOMAIN.match(text, at + 1)
        if domain is None:
            continue
        found.append(text[start : domain.end()])
        resume = domain.end()
    return found


def extract_emails(text: str) -> dict[str, Any]:
    emails = (_trim(e) for e in _email_matches(text))
    return {"emails": [e for e in emails if EMAIL.fullmatch(e)]}


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


def apply(operation: str, text: str) -> dict[str, Any]:
    """One operation by name: what a worker process runs (it imports only this module)."""
    return OPERATIONS[operation](text)


def watch_service(service_pid: int) -> None:
    """A worker's initializer: exit as soon as the service process is gone (killed, or stopped without
    shutting its pool down), so no worker — nor the fork server it keeps alive — outlives the service."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(service_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid now belongs to another user's process: the service is gone
                os._exit(0)

    threading.Thread(target=watch, name="watch-service", daemon=True).start()
