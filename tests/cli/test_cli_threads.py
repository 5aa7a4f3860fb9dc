"""``claudechat config set threads on`` and ``--threads/--no-threads``: the CLI's turns go
through a message thread, and a new process continues it."""

from __future__ import annotations

from collections.abc import Callable

from emulated import sent_bodies, server_env

from claudechat.testing import EmulatorServer
from conftest import Run


def test_config_threads_on_continues_across_processes(run: Run, server: EmulatorServer) -> None:
    env = server_env(server)
    assert run("config", "set", "threads", "on").exit_code == 0
    assert run("ask", "first question", env=env).exit_code == 0
    assert run("ask", "-c", "second question", env=env).exit_code == 0
    bodies = sent_bodies(server)
    assert bodies[0]["thread"] == {"type": "create"}
    assert bodies[1]["thread"]["type"] == "continue"
    assert [m["role"] for m in bodies[1]["messages"]] == ["user"]


def test_no_threads_flag_wins_over_the_config(
    run: Run, emulator_server: Callable[..., EmulatorServer]
) -> None:
    server = emulator_server()
    env = server_env(server)
    assert run("config", "set", "threads", "on").exit_code == 0
    assert run("ask", "--no-threads", "first", env=env).exit_code == 0
    assert run("ask", "--threads", "-c", "second", env=env).exit_code == 0
    bodies = sent_bodies(server)
    assert "thread" not in bodies[0]
    assert bodies[1]["thread"] == {"type": "create"}  # a new thread: none was held
