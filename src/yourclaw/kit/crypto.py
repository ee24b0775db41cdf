"""Secrets at rest: MultiFernet over ENCRYPTION_KEY (first key encrypts, every key decrypts)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from yourclaw.kit.errors import YourClawError


class DecryptionFailed(YourClawError):
    status_code = 500
    code = "SECRET_UNREADABLE"


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is required")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            # Never echo the ciphertext: the message reaches logs.
            raise DecryptionFailed("a stored secret could not be decrypted with any ENCRYPTION_KEY") from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt with the first key (keeps the original timestamp)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptionFailed("a stored secret could not be decrypted with any ENCRYPTION_KEY") from None
