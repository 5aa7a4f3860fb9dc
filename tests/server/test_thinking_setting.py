"""The service's thinking setting (``ServerSettings(thinking=…)``, ``CLAUDECHAT_THINKING``):
adaptive where the model takes it by default, as a Chat; "off" sends no thinking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from service import Service, start_service

from claudechat.server import ServerSettings


def _thinking_sent(service: Service) -> Any:
    with service.client() as c:
        r = c.post("/v1/conversations", json={"model": "claude-sonnet-4-6"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        r = c.post(f"/v1/conversations/{cid}/messages", json={"content": "hi", "stream": False})
        assert r.status_code == 200, r.text
    replies = [r for r in service.emulator.requests if r.path == "/v1/messages"]
    return replies[-1].body.get("thinking")


@pytest.mark.parametrize(("setting", "sent"), [("auto", {"type": "adaptive"}), ("off", None)])
def test_the_service_sends_the_configured_thinking(tmp_path: Path, setting: str, sent: Any) -> None:
    service = start_service(tmp_path / "chats.db", auth_mode="none", thinking=setting)
    try:
        assert _thinking_sent(service) == sent
    finally:
        service.stop()


def test_thinking_comes_from_the_environment() -> None:
    assert ServerSettings.from_env({"CLAUDECHAT_THINKING": "off"}).thinking == "off"
    assert ServerSettings.from_env({}).thinking == "auto"
