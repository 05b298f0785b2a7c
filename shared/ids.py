"""Identifiers in the contract's formats (prefix + lowercase hex) and API keys."""

from __future__ import annotations

import hashlib
import secrets


def new_id(prefix: str, hex_chars: int = 12) -> str:
    return f"{prefix}_{secrets.token_hex((hex_chars + 1) // 2)[:hex_chars]}"


def new_api_key() -> str:
    return "af_" + secrets.token_hex(16)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()
