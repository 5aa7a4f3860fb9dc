"""Options for the model: --temperature, --top-p, --stop and -o KEY=VALUE reach the request
(checked locally against the SDK's field names first), on ask and in chat."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result
from emulated import sent_bodies, server_env

from claudechat.cli.model_options import parse_field
from claudechat.errors import UserError
from claudechat.testing import EmulatorServer

Run = Callable[..., Result]


def test_the_options_reach_the_request(run: Run, server: EmulatorServer) -> None:
    result = run(
        "ask", "--temperature", "0.2", "--top-p", "0.9", "--stop", "END", "--stop", "FIN",
        "-o", "service_tier=auto", "-o", 'metadata={"user_id": "u-42"}', "hello",
        env=server_env(server),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = sent_bodies(server)[-1]
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert body["stop_sequences"] == ["END", "FIN"]
    assert body["service_tier"] == "auto" and body["metadata"] == {"user_id": "u-42"}


def test_chat_sends_them_with_every_message_of_a_resumed_conversation(
    run: Run, server: EmulatorServer
) -> None:
    assert run("ask", "first", env=server_env(server)).exit_code == 0
    result = run("chat", "-c", "--top-p", "0.5", input="again\n/quit\n", env=server_env(server))
    assert result.exit_code == 0, result.output
    first, second = sent_bodies(server)
    assert "top_p" not in first and second["top_p"] == 0.5


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("-o", "tempurature=1"), "error: -o tempurature: not a Messages API field (accepted: "),
        (("-o", "model=claude-opus-4-6"), "error: -o model: set by --model, not with -o"),
        (("-o", "stop_sequences=[]"), "error: -o stop_sequences: set by --stop, not with -o"),
        (("-o", "novalue"), "error: -o takes KEY=VALUE, got 'novalue'"),
        (("--temperature", "1.5"), "1.5 is not in the range 0<=x<=1"),
    ],
)
def test_a_wrong_option_is_a_usage_error_before_anything_is_sent(
    run: Run, server: EmulatorServer, args: tuple[str, ...], said: str
) -> None:
    result = run("ask", *args, "hello", env=server_env(server))
    assert result.exit_code == 2
    assert said in result.stderr
    assert sent_bodies(server) == []


def test_parse_field_reads_json_values_or_keeps_text() -> None:
    known = {"thinking", "service_tier"}
    assert parse_field("service_tier=standard_only", known=known) == (
        "service_tier",
        "standard_only",
    )
    assert parse_field('thinking={"type": "disabled"}', known=known) == (
        "thinking",
        {"type": "disabled"},
    )
    with pytest.raises(UserError, match="accepted: service_tier, thinking"):
        parse_field("top_k=5", known=known)
