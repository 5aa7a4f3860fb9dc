"""Signatures the emulator issues for thinking blocks, and their verification."""

from __future__ import annotations

import base64
import hashlib
import hmac

_KEY = b"claudechat-emulator-thinking-signature-v1"


def sign_thinking(thinking: str) -> str:
    """The signature the emulator gives a thinking block with this text."""
    digest = hmac.new(_KEY, thinking.encode("utf-8"), hashlib.sha256).digest()
    return "EmuSig" + base64.b64encode(digest).decode("ascii")


def verify_thinking(thinking: str, signature: str) -> bool:
    """Whether `signature` is the one the emulator issued for `thinking`."""
    return hmac.compare_digest(sign_thinking(thinking), signature)
