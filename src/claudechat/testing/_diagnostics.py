"""Cache-miss diagnostics: compare a request with the one behind `previous_message_id`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..tokens import strip_cache_control
from ._prefix import content_blocks, messages_settings, system_blocks


def _canon(value: Any) -> str:
    return json.dumps(strip_cache_control(value), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class RequestFingerprint:
    """What a request looked like, kept per response id for later diagnosis."""

    model: str
    system: str
    tools: str
    messages: tuple[str, ...]
    settings: str
    cached_tokens: int

    @classmethod
    def of(cls, body: dict[str, Any], cached_tokens: int) -> RequestFingerprint:
        """The fingerprint of `body`, whose cached prefix held `cached_tokens`."""
        messages = tuple(
            _canon({"role": m["role"], "content": content_blocks(m["content"])})
            for m in body["messages"]
        )
        return cls(
            model=str(body["model"]),
            system=_canon(system_blocks(body.get("system"))),
            tools=_canon(body.get("tools") or []),
            messages=messages,
            settings=messages_settings(body),
            cached_tokens=cached_tokens,
        )


def diagnose(
    previous: RequestFingerprint | None, current: RequestFingerprint, read_tokens: int
) -> dict[str, Any] | None:
    """The `cache_miss_reason` for `current`, or None when the prefix was fully reused."""
    if previous is None:
        return {"type": "previous_message_not_found"}
    missed = max(0, previous.cached_tokens - read_tokens)
    for reason, changed in (
        ("model_changed", previous.model != current.model),
        ("tools_changed", previous.tools != current.tools),
        ("system_changed", previous.system != current.system),
        ("messages_changed", current.messages[: len(previous.messages)] != previous.messages),
    ):
        if changed:
            return {"type": reason, "cache_missed_input_tokens": missed}
    if previous.settings != current.settings:
        return {"type": "unavailable"}
    return None
