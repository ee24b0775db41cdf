"""Secrets at rest: a key list that decrypts with any of its keys and rotates onto the first."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from yourclaw.kit.crypto import DecryptionFailed, SecretBox

pytestmark = pytest.mark.unit


def test_secret_box_rotates_keys():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = SecretBox([old]).encrypt("sk-ant-secret")
    both = SecretBox([new, old])
    assert both.decrypt(stored) == "sk-ant-secret"
    rotated = both.rotate(stored)
    assert SecretBox([new]).decrypt(rotated) == "sk-ant-secret"
    with pytest.raises(DecryptionFailed) as info:
        SecretBox([new]).decrypt(stored)
    assert stored not in info.value.detail
