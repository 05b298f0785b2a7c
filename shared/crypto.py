"""Fernet encryption at rest: `ENC:` prefix, several keys (newest first) for rotation, plaintext readable."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.config import Settings

PREFIX = "ENC:"


class Cipher:
    """Encrypts with the newest key, decrypts with any; a no-op when no key is configured."""

    def __init__(self, keys: list[str] | None = None) -> None:
        fernets = [Fernet(k.strip().encode()) for k in keys or []]
        self._fernet = MultiFernet(fernets) if fernets else None
        self._newest = fernets[0] if fernets else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Cipher:
        if not settings.encryption_enabled:
            return cls(None)
        assert settings.encryption_keys is not None
        return cls([k for k in settings.encryption_keys.get_secret_value().split(",") if k.strip()])

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def encrypt(self, plaintext: str) -> str:
        if self._fernet is None:
            return plaintext
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption was enabled
        if self._fernet is None:
            raise RuntimeError("encrypted value found but no ENCRYPTION_KEY is configured")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError("encrypted value cannot be decrypted with the configured keys") from exc

    def is_current(self, stored: str) -> bool:
        """True when the value is already encrypted with the newest key (nothing to rotate)."""
        if self._newest is None:
            return True
        if not stored.startswith(PREFIX):
            return False
        try:
            self._newest.decrypt(stored[len(PREFIX) :].encode())
            return True
        except InvalidToken:
            return False

    def rotate(self, stored: str) -> str:
        """Re-encrypt a stored value with the newest key (plaintext gets encrypted)."""
        if self._fernet is None:
            return stored
        if not stored.startswith(PREFIX):
            return self.encrypt(stored)
        return PREFIX + self._fernet.rotate(stored[len(PREFIX) :].encode()).decode()
