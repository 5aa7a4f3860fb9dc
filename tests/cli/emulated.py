"""Helpers for CLI tests against an emulator server: its environment and what it received."""

from __future__ import annotations

from typing import Any

from claudechat.testing import EmulatorServer


def server_env(server: EmulatorServer) -> dict[str, str]:
    """The environment that points the CLI at ``server``."""
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "k"}


def sent_bodies(server: EmulatorServer) -> list[dict[str, Any]]:
    """The bodies of the /v1/messages requests ``server`` received, in order."""
    return [r.body for r in server.emulator.requests if r.path == "/v1/messages"]


def last_user_text(server: EmulatorServer) -> str:
    """The text of the last user message of the last request ``server`` received."""
    content = sent_bodies(server)[-1]["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")
