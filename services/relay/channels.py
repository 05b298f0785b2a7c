"""Pub/sub channel names and subscription patterns, with NATS's token semantics.

A channel is dot-separated tokens of letters, digits, `_` and `-` (`news.tech`), and maps onto the NATS
subject `pubsub.<channel>`. A subscription pattern may also use NATS's wildcards: `*` stands for exactly one
token (`news.*` matches `news.tech`, not `news` nor `news.tech.ai`) and `>`, only as the last token, for one or
more tokens (`news.>` matches both `news.tech` and `news.tech.ai`). So a pattern is also a valid NATS
subscription on `pubsub.<pattern>`, and means there exactly what it means here. Publications go to one
concrete channel (no wildcards), as a NATS publish does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared import subjects

MAX_LENGTH = 128
INBOX_PREFIX = "pubsub:"  # the inbox channel of a publication: pubsub:<channel>, as MoltGrid 1.0 stores it
_LITERAL = re.compile(r"^[A-Za-z0-9_-]+$")
HINT = (
    "Use dot-separated tokens of letters, digits, '_' and '-'; in a subscription '*' matches one token "
    "and a final '>' matches the rest"
)


class ChannelError(ValueError):
    """A channel or pattern that is not valid (the message says why)."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed subscription pattern: what SQL needs to find the patterns matching a channel quickly."""

    text: str
    regex: str  # anchored POSIX regular expression for `channel ~ regex`
    tokens: int  # number of tokens, `>` counted as one (it needs at least one)
    open: bool  # ends with `>`: matches channels of `tokens` tokens or more


def _tokens(text: str) -> list[str]:
    if not text or len(text) > MAX_LENGTH:
        raise ChannelError(f"A channel has 1 to {MAX_LENGTH} characters")
    return text.split(".")


def parse_pattern(text: str) -> Pattern:
    """Validate a subscription pattern (a channel, or one with `*` / `>` tokens)."""
    tokens = _tokens(text)
    parts = []
    for i, token in enumerate(tokens):
        if token == "*":
            parts.append("[^.]+")
        elif token == ">" and i == len(tokens) - 1:
            parts.append(".+")
        elif _LITERAL.match(token):
            parts.append(token)  # letters, digits, '_' and '-' mean themselves in a regular expression
        else:
            raise ChannelError(f"Invalid channel pattern '{text}'. {HINT}")
    return Pattern(text, "^" + r"\.".join(parts) + "$", len(tokens), tokens[-1] == ">")


def parse_channel(text: str) -> int:
    """Validate a channel to publish to; returns its number of tokens."""
    tokens = _tokens(text)
    if any(t in ("*", ">") for t in tokens):
        raise ChannelError(f"Publish to a concrete channel, not a pattern ('{text}'). {HINT}")
    if not all(_LITERAL.match(t) for t in tokens):
        raise ChannelError(f"Invalid channel '{text}'. {HINT}")
    return len(tokens)


def matches(pattern: str, channel: str) -> bool:
    """Whether a publication on `channel` reaches a subscription to `pattern` (the SQL does the same)."""
    return re.fullmatch(parse_pattern(pattern).regex[1:-1], channel) is not None


MAX_CANDIDATE_TOKENS = 8  # up to 511 candidate patterns; longer channels are matched by the patterns' regexes


def candidates(channel: str) -> list[str] | None:
    """Every subscription pattern that matches `channel` (as NATS's subject tree would find them): each token
    itself or `*`, and any such prefix followed by `>`. The store looks them up in the subscriptions' channel
    index instead of testing every subscription. None for a channel of more than MAX_CANDIDATE_TOKENS tokens
    (2^(n+1) - 1 candidates)."""
    tokens = channel.split(".")
    if len(tokens) > MAX_CANDIDATE_TOKENS:
        return None
    out: list[str] = []
    prefixes: list[list[str]] = [[]]
    for token in tokens:
        out.extend(".".join([*p, ">"]) for p in prefixes)  # `>` stands for this token and the rest
        prefixes = [[*p, t] for p in prefixes for t in (token, "*")]
    out.extend(".".join(p) for p in prefixes)
    return out


def subject(channel: str) -> str:
    """The NATS subject a channel's publications are published on (outside subscribers may listen)."""
    return subjects.pubsub(channel)


def inbox_channel(channel: str) -> str:
    return INBOX_PREFIX + channel
