"""Attachments from the command line: ``ask -a FILE`` (repeatable) and ``/attach FILE`` in
the REPL; a file that is no image nor PDF is refused in one line before anything is
stored or sent."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from emulated import sent_bodies, server_env
from test_cli_session import Harness

from claudechat.testing import EmulatorServer, sample_pdf, sample_png

Run = Callable[..., Result]


def test_ask_sends_each_attachment_before_the_prompt(
    run: Run, tmp_path: Path, emulator_server: Callable[..., EmulatorServer]
) -> None:
    server = emulator_server()
    image, pdf = tmp_path / "plot.png", tmp_path / "paper.pdf"
    image.write_bytes(sample_png(64, 32))
    pdf.write_bytes(sample_pdf(2))
    result = run("ask", "-a", str(image), "--attach", str(pdf), "Compare them",
                 env=server_env(server))  # fmt: skip
    assert result.exit_code == 0, result.output
    [body] = sent_bodies(server)
    content = body["messages"][0]["content"]
    assert [b["type"] for b in content] == ["image", "document", "text"]
    assert base64.b64decode(content[0]["source"]["data"]) == sample_png(64, 32)
    assert content[1]["title"] == "paper.pdf" and content[2]["text"] == "Compare them"


def test_ask_refuses_a_file_that_is_no_image_nor_pdf_in_one_line(
    run: Run, tmp_path: Path, emulator_server: Callable[..., EmulatorServer]
) -> None:
    server = emulator_server()
    notes = tmp_path / "notes.png"
    notes.write_text("just text")
    result = run("ask", "-a", str(notes), "What is this?", env=server_env(server))
    assert result.exit_code == 2
    assert "notes.png is not a PNG, JPEG, GIF or WebP image nor a PDF" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert server.emulator.requests == []
    assert run("list").output == "no conversations yet\n"


def test_the_repl_attaches_a_file_to_the_next_message_only(tmp_path: Path) -> None:
    h = Harness()
    photo = tmp_path / "cat.png"
    photo.write_bytes(sample_png(20, 20))
    out = h(f"/attach {photo}")
    assert "cat.png (image/png" in out and "sent with your next message" in out
    h("What animal is this?")
    h("And now?")
    first, second = [r.body for r in h.emulator.requests if r.path == "/v1/messages"]
    assert [b["type"] for b in first["messages"][0]["content"]] == ["image", "text"]
    assert [b["type"] for m in second["messages"] for b in m["content"]].count("image") == 1
    bad = tmp_path / "cat.txt"
    bad.write_text("meow")
    assert "error: cat.txt is not a PNG" in h(f"/attach {bad}")
