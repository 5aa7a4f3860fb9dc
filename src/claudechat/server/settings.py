"""``ServerSettings``: what ``create_app`` is configured with, frozen once built.

``from_env`` reads the ``CLAUDECHAT_SERVE_*`` variables (and the usual configuration for the
model, budget and strategy), so every worker uvicorn starts builds the same app.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..config import DEFAULT_CLI_MODEL, MEMORY_SCOPES, resolve
from ..errors import ConfigError

__all__ = ["AuthMode", "ServerSettings"]

AuthMode = Literal["builtin", "none"]
SESSION_SECONDS = 14 * 24 * 3600  # a web session lasts two weeks
# The API takes requests up to 32 MB; a message's attachments go in its body as base64.
MESSAGE_BODY_BYTES = 34 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the service runs. ``auth_mode`` "none" makes every request the local user (for
    a loopback address only); ``client`` is an ``AsyncAnthropic`` (None: from the
    environment, the built-in emulator when no key is set, as the CLI does)."""

    auth_mode: AuthMode = "builtin"
    max_body_bytes: int = 1_000_000
    max_message_bytes: int = MESSAGE_BODY_BYTES  # a new message's body, its attachments in it
    model: str = DEFAULT_CLI_MODEL
    max_tokens: int = 4096
    budget: int | Literal["max"] | None = None
    strategy: str = "window"
    recall: bool = True  # old turns brought back once the window drops them (bench/memory.py)
    client: Any = None
    clock: Callable[[], float] = time.time
    shutdown_grace_seconds: float = 30.0
    cookie_secure: bool | None = None
    session_seconds: float = SESSION_SECONDS
    memory: str = "off"  # the memory tool: off, conversation or shared (per user)
    thinking: str | int = "auto"  # as Chat(thinking=…): adaptive where the model takes it
    login_failures_per_user: int = 5  # failed sign-ins in the window before 429
    login_failures_per_address: int = 20
    login_window_seconds: float = 900.0
    kept_chats: int = 256  # conversations whose chat a worker keeps between turns (kept_chats.py)
    kept_messages: int = 20_000  # at most this many messages in those chats' branches, in all
    semantic: str = "off"  # search by meaning: off, on (all-MiniLM-L6-v2) or hashing (semantic.py)

    def __post_init__(self) -> None:
        if self.auth_mode not in ("builtin", "none"):
            raise ConfigError(f"auth_mode must be 'builtin' or 'none', not {self.auth_mode!r}")
        if self.max_body_bytes < 1 or self.max_message_bytes < 1:
            raise ConfigError("max_body_bytes and max_message_bytes must be at least 1")
        if self.kept_chats < 0:
            raise ConfigError(f"kept_chats must be 0 or more, not {self.kept_chats}")
        if self.kept_messages < 0:
            raise ConfigError(f"kept_messages must be 0 or more, not {self.kept_messages}")
        if self.semantic not in ("off", "on", "hashing"):
            raise ConfigError(f"semantic must be off, on or hashing, not {self.semantic!r}")
        if self.memory not in MEMORY_SCOPES:
            raise ConfigError(
                f"memory must be one of {', '.join(MEMORY_SCOPES)}, not {self.memory!r}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        """Settings from ``CLAUDECHAT_SERVE_AUTH`` ("builtin" / "none"),
        ``CLAUDECHAT_SERVE_MAX_BODY_BYTES``, ``CLAUDECHAT_SERVE_MAX_MESSAGE_BYTES`` (the body
        of a new message, attachments included), ``CLAUDECHAT_SERVE_GRACE_SECONDS``,
        ``CLAUDECHAT_SERVE_KEPT_CHATS`` (0: none), ``CLAUDECHAT_SERVE_KEPT_MESSAGES``,
        ``CLAUDECHAT_SERVE_SEMANTIC`` (search by meaning: off, on or hashing), and the
        model, max_tokens, budget, strategy, recall (``CLAUDECHAT_RECALL``), thinking
        (``CLAUDECHAT_THINKING``) and memory
        (``CLAUDECHAT_MEMORY``: the memory tool, its trees each user's own) of the usual
        configuration."""
        env = os.environ if env is None else env
        config = resolve({}, env=env)
        auth = env.get("CLAUDECHAT_SERVE_AUTH", "builtin")
        if auth not in ("builtin", "none"):
            raise ConfigError(f"CLAUDECHAT_SERVE_AUTH must be 'builtin' or 'none', not {auth!r}")
        return cls(
            auth_mode="none" if auth == "none" else "builtin",
            max_body_bytes=_number(env, "CLAUDECHAT_SERVE_MAX_BODY_BYTES", 1_000_000, int),
            max_message_bytes=_number(
                env, "CLAUDECHAT_SERVE_MAX_MESSAGE_BYTES", MESSAGE_BODY_BYTES, int
            ),
            model=config.model,
            max_tokens=config.max_tokens,
            budget=config.budget,
            strategy=config.strategy,
            recall=config.recall,
            memory=config.memory,
            thinking=config.thinking,
            shutdown_grace_seconds=_number(env, "CLAUDECHAT_SERVE_GRACE_SECONDS", 30.0, float),
            kept_chats=_number(env, "CLAUDECHAT_SERVE_KEPT_CHATS", 256, int),
            kept_messages=_number(env, "CLAUDECHAT_SERVE_KEPT_MESSAGES", 20_000, int),
            semantic=_semantic(env.get("CLAUDECHAT_SERVE_SEMANTIC", "off")),
        )


def _semantic(raw: str) -> str:
    choice = raw.strip().lower() or "off"
    if choice not in ("off", "on", "hashing"):
        raise ConfigError(f"CLAUDECHAT_SERVE_SEMANTIC must be off, on or hashing, not {raw!r}")
    return choice


def _number(env: Mapping[str, str], name: str, default: Any, kind: Callable[[str], Any]) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
