"""``claudechat serve``: refusals (exit 2, one line), the banner, and real uvicorn workers
started from the command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from service import WAIT, sse

from claudechat.cli import cli
from claudechat.credentials import new_api_key
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, serve

SRC = Path(__file__).resolve().parents[2] / "src"
SECRET = "sk-ant-api03-never-shown-0123456789"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CLAUDECHAT_"))}  # fmt: skip
    env.update({"CLAUDECHAT_DB": str(tmp_path / "chats.db"), "PYTHONPATH": str(SRC),
                "CLAUDECHAT_CONFIG": str(tmp_path / "config.toml"), **extra})  # fmt: skip
    return env


def test_no_auth_on_a_public_address_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--no-auth"],
                                env=_env(tmp_path))  # fmt: skip
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--no-auth" in lines[0] and "0.0.0.0" in lines[0]


def test_builtin_auth_with_no_one_able_to_sign_in_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve"], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "no user can sign in" in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("key", "said"),
    [("   ", "is blank"), ("sk-ant-key\n", "has spaces or newlines around it"),
     (" sk-ant-key", "has spaces or newlines around it")],
)  # fmt: skip
def test_a_blank_or_padded_upstream_key_is_refused_before_serving(
    tmp_path: Path, key: str, said: str
) -> None:
    made = new_api_key()
    with SQLiteStore(tmp_path / "chats.db") as store:
        store.add_api_key(store.add_user("alice").id, key_hash=made.hash, prefix=made.prefix)
    result = CliRunner().invoke(cli, ["serve", "--port", "1"],
                                env=_env(tmp_path, ANTHROPIC_API_KEY=key))  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: ANTHROPIC_API_KEY {said}: set it to the key alone, or unset it"
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [("maybe", "CLAUDECHAT_SERVE_SEMANTIC must be off, on or hashing, not 'maybe'"),
     ("on", "semantic search needs the embeddings extra")],
)  # fmt: skip
def test_search_by_meaning_misconfigured_is_refused_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    import claudechat.search
    from claudechat.search import EmbedderUnavailable

    def unavailable() -> None:
        raise EmbedderUnavailable("all-MiniLM-L6-v2 is not installed")

    monkeypatch.setattr(claudechat.search, "MiniLMEmbedder", unavailable)
    result = CliRunner().invoke(cli, ["serve", "--no-auth", "--port", "1"],
                                env=_env(tmp_path, CLAUDECHAT_SERVE_SEMANTIC=value))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert said in result.output and len(result.output.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _started(
    args: list[str], env: dict[str, str], *, stderr: int
) -> tuple[subprocess.Popen[str], str]:
    """``claudechat serve`` started in a subprocess, once it answers /healthz; its URL."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "claudechat", "serve", "--port", str(port),
                             *args], env=env, stdout=subprocess.PIPE, stderr=stderr,
                            text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(int(WAIT * 10)):
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx2.TransportError:
            assert proc.poll() is None, proc.communicate()
            threading.Event().wait(0.1)
    return proc, url


@contextmanager
def _serving(args: list[str], env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """``claudechat serve`` in a subprocess until the block ends; the dict gets its
    ``output`` (stdout + stderr) once it has stopped."""
    proc, url = _started(args, env, stderr=subprocess.PIPE)
    result: dict[str, str] = {}
    try:
        yield url, result
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=WAIT)
        result["output"] = out + err


def test_serve_no_auth_with_two_workers_on_the_emulator(tmp_path: Path) -> None:
    with (
        _serving(["--no-auth", "--workers", "2"], _env(tmp_path)) as (url, result),
        httpx2.Client(base_url=url, timeout=WAIT) as c,
    ):
        cid = c.post("/v1/conversations", json={}).json()["id"]
        r = c.post(f"/v1/conversations/{cid}/messages", json={"content": "hi", "stream": False})
        assert r.status_code == 200 and "Emulator reply" in r.json()["message"]["text"]
    first = result["output"].strip().splitlines()[0]
    assert url in first and "auth none" in first and "emulator (no API key)" in first
    assert str(tmp_path / "chats.db") in first and "2 workers" in first


def test_the_upstream_key_never_appears(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "chats.db")
    user = store.add_user("erin")
    key = new_api_key()
    store.add_api_key(user.id, key_hash=key.hash, prefix=key.prefix)
    store.close()
    with serve(Emulator(api_key=SECRET)) as upstream:
        env = _env(tmp_path, ANTHROPIC_API_KEY=SECRET, ANTHROPIC_BASE_URL=upstream.url)
        with _serving([], env) as (url, result):
            headers = {"Authorization": f"Bearer {key.plaintext}"}
            with httpx2.Client(base_url=url, timeout=WAIT, headers=headers) as c:
                cid = c.post("/v1/conversations", json={}).json()["id"]
                ok = c.post(f"/v1/conversations/{cid}/messages",
                            json={"content": "hello", "stream": False})  # fmt: skip
                texts = [ok.text, c.get(f"/v1/conversations/{cid}/export").text,
                         c.get("/v1/usage").text]  # fmt: skip
                with c.stream("POST", f"/v1/conversations/{cid}/messages",
                              json={"content": "again"}) as r:  # fmt: skip
                    texts.append(r.read().decode())
        output = result["output"]
    assert ok.status_code == 200 and "Emulator reply" in ok.json()["message"]["text"]
    assert "emulator" not in output.splitlines()[0] and "auth builtin" in output
    for text in [*texts, output]:
        assert SECRET not in text and SECRET[:16] not in text


def _healthz_count(url: str) -> float:
    """What /metrics (of whichever worker answers) says of GET /healthz answered 200."""
    text = httpx2.get(f"{url}/metrics", timeout=WAIT).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "claudechat_http_requests_total" and sample.labels == {
                "route": "/healthz", "method": "GET", "status": "200"}:  # fmt: skip
                return sample.value
    return 0.0


def test_metrics_of_several_workers_are_the_service_totals(tmp_path: Path) -> None:
    with _serving(["--no-auth", "--workers", "2"], _env(tmp_path)) as (url, _):
        before = _healthz_count(url)
        for _ in range(20):  # a connection each: either worker may answer
            assert httpx2.get(f"{url}/healthz", timeout=WAIT).status_code == 200
        seen = [_healthz_count(url)]
        while seen[-1] != before + 20 and len(seen) < 50:  # a count lands just after its answer
            threading.Event().wait(0.1)
            seen.append(_healthz_count(url))
        scrapes = [_healthz_count(url) for _ in range(8)]  # new connections: both workers
    assert scrapes == [before + 20] * 8, seen


def test_a_turn_stopped_by_the_servers_shutdown_ends_its_stream_whole(tmp_path: Path) -> None:
    """SIGTERM while a client reads a long reply: the turn gets the grace (1 s), then is
    stopped as a cancel stops it, and the client, still connected, gets its usage, the
    partial message and done; then the server exits (before, uvicorn cut the response
    first: no ending, and the process waited for the grace twice)."""
    story = " ".join(f"word{i}" for i in range(3000))
    with serve(Emulator(reply=lambda r: story), token_delay=0.01) as upstream:
        env = _env(tmp_path, ANTHROPIC_BASE_URL=upstream.url, ANTHROPIC_API_KEY="sk-test",
                   CLAUDECHAT_SERVE_GRACE_SECONDS="1", CLAUDECHAT_THINKING="off")  # fmt: skip
        proc, url = _started(["--no-auth"], env, stderr=subprocess.STDOUT)
        try:
            with httpx2.Client(base_url=url, timeout=WAIT) as c:
                cid = c.post("/v1/conversations", json={}).json()["id"]
                with c.stream("POST", f"/v1/conversations/{cid}/messages",
                              json={"content": "a long story"}) as r:  # fmt: skip
                    events = []
                    for event in sse(r):
                        events.append(event)
                        if event.name == "delta" and len(events) == 3:
                            proc.terminate()
            output, _ = proc.communicate(timeout=WAIT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert [e.name for e in events[-3:]] == ["usage", "message", "done"], output
    message = events[-2].data["message"]
    assert message["status"] == "partial" and message["text"].startswith("word0 word1")
    assert message["text"] != story and events[-3].data["cost_usd"] > 0
    assert proc.returncode == 0 and "graceful shutdown exceeded" not in output, output
    store = SQLiteStore(tmp_path / "chats.db")
    try:
        assert store.branch(cid)[-1].id == message["id"]
    finally:
        store.close()
