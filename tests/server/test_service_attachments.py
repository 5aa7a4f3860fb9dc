"""Attachments through the service's API: images and PDFs sent with a message, stored once
by their hash, resent on later turns, named when read back, carried whole by the export;
every refusal answered before anything is stored or sent upstream."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx2
import pytest
from service import Service, start_service
from test_spend_seam import Check

from claudechat.store.accounts import Limits
from claudechat.testing import sample_pdf, sample_png

PNG = sample_png(40, 30)
PDF = sample_pdf(2)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _new(c: httpx2.Client) -> str:
    cid: str = c.post("/v1/conversations", json={}).json()["id"]
    return cid


def _send(c: httpx2.Client, cid: str, text: str, *files: tuple[str, bytes | str]) -> Any:
    attachments = [{"name": n, "data": d if isinstance(d, str) else _b64(d)} for n, d in files]
    body = {"content": text, "attachments": attachments, "stream": False}
    return c.post(f"/v1/conversations/{cid}/messages", json=body)


def _sent(service: Service) -> list[dict[str, Any]]:
    """The bodies of the /v1/messages requests the emulator received."""
    return [r.body for r in service.emulator.requests if r.path.split("?")[0] == "/v1/messages"]


def _kinds(message: dict[str, Any]) -> list[str]:
    return [b["type"] for b in message["content"]]


def test_an_image_and_a_pdf_are_sent_stored_once_and_resent(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        r = _send(c, cid, "What are these?", ("chart.png", PNG), ("report.pdf", PDF))
        assert r.status_code == 200, r.text
        assert _send(c, cid, "And again", ("same.png", PNG)).status_code == 200
        assert _send(c, cid, "Thanks").status_code == 200
        stored = c.get(f"/v1/conversations/{cid}/messages").json()["data"]
    first, second, third = _sent(local_service)
    (asked,) = first["messages"]
    assert _kinds(asked) == ["image", "document", "text"]
    assert asked["content"][0]["source"] == {"type": "base64", "media_type": "image/png",
                                             "data": _b64(PNG)}  # fmt: skip
    assert asked["content"][1]["source"]["data"] == _b64(PDF)
    assert asked["content"][1]["title"] == "report.pdf"
    # resent with every later request, as the library does
    assert _kinds(third["messages"][0]) == ["image", "document", "text"]
    assert _kinds(third["messages"][2]) == ["image", "text"]
    assert third["messages"][2]["content"][0]["source"]["data"] == _b64(PNG)
    assert local_service.store.blob_count() == 2  # the PNG sent twice is stored once
    shown = stored[0]["attachments"]
    assert [(a["name"], a["media_type"], a["bytes"]) for a in shown] == [
        ("chart.png", "image/png", len(PNG)),
        ("report.pdf", "application/pdf", len(PDF)),
    ]
    assert [a["name"] for a in stored[2]["attachments"]] == ["same.png"]
    assert stored[4]["attachments"] == []
    # read back without the bytes (the source says so), which a route serves on their own
    assert "data" not in stored[0]["content"][0]["source"]
    assert stored[0]["content"][0]["source"]["data_omitted"] is True
    assert second["messages"][2]["content"][0]["type"] == "image"


def test_the_attachment_route_serves_the_bytes(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        r = _send(c, cid, "Look", ("chart.png", PNG), ("report.pdf", PDF))
        mid = r.json()["user_message"]["id"]
        image = c.get(f"/v1/conversations/{cid}/messages/{mid}/attachments/0")
        pdf = c.get(f"/v1/conversations/{cid}/messages/{mid}/attachments/1")
        missing = c.get(f"/v1/conversations/{cid}/messages/{mid}/attachments/2")
        other = _new(c)
        elsewhere = c.get(f"/v1/conversations/{other}/messages/{mid}/attachments/0")
    assert (image.status_code, image.content) == (200, PNG)
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert (pdf.content, pdf.headers["content-type"]) == (PDF, "application/pdf")
    assert pdf.headers["content-disposition"] == "attachment; filename*=UTF-8''report.pdf"
    assert missing.status_code == 404
    assert elsewhere.status_code == 404  # a message of another conversation is not in this one


def test_the_export_carries_the_bytes_and_an_import_keeps_them(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        assert _send(c, cid, "Look", ("chart.png", PNG)).status_code == 200
        export = c.get(f"/v1/conversations/{cid}/export").json()
        imported = c.post("/v1/conversations/import?again=true", json=export)
        assert imported.status_code == 201, imported.text
        again = c.get(f"/v1/conversations/{imported.json()['id']}/messages").json()["data"]
    users = [m for m in export["messages"] if m["role"] == "user"]
    assert users[0]["content"][0]["source"]["data"] == _b64(PNG)
    assert [a["name"] for a in again[0]["attachments"]] == ["chart.png"]


# --- refusals: nothing stored, nothing sent --------------------------------------------------


def _refused(service: Service, c: httpx2.Client, cid: str, r: httpx2.Response) -> dict[str, Any]:
    """The error of a refused send, once checked that nothing was stored or sent."""
    assert c.get(f"/v1/conversations/{cid}/messages").json()["data"] == []
    assert _sent(service) == []
    assert service.store.blob_count() == 0
    error: dict[str, Any] = r.json()["error"]
    return error


def test_a_file_of_another_type_is_415_naming_it(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        r = _send(c, cid, "Read this", ("chart.png", PNG), ("notes.txt", b"just some text"))
        error = _refused(local_service, c, cid, r)
    assert r.status_code == 415
    assert error["type"] == "unsupported_media_type"
    assert "notes.txt" in error["message"] and "PDF" in error["message"]


def test_bad_base64_is_422_naming_the_field(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        r = _send(c, cid, "Look", ("chart.png", PNG), ("broken.png", "not*base64!"))
        error = _refused(local_service, c, cid, r)
    assert r.status_code == 422
    assert "body.attachments.1.data" in error["message"] and "broken.png" in error["message"]


def test_an_image_over_the_api_limit_is_413(local_service: Service) -> None:
    big = sample_png(10, 10) + b"\0" * (4 * 1024 * 1024)  # over 5 MB once base64
    with local_service.client() as c:
        cid = _new(c)
        r = _send(c, cid, "Look", ("huge.png", big))
        error = _refused(local_service, c, cid, r)
    assert (r.status_code, error["type"]) == (413, "payload_too_large")
    assert "huge.png" in error["message"]


def test_an_image_over_the_pixel_limit_is_413(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        r = _send(c, cid, "Look", ("wide.png", sample_png(9000, 2)))
        error = _refused(local_service, c, cid, r)
    assert r.status_code == 413 and "wide.png" in error["message"] and "8,000" in error["message"]


def test_a_message_body_over_the_service_limit_is_413(tmp_path: Path) -> None:
    service = start_service(tmp_path / "s.db", auth_mode="none", max_message_bytes=200_000)
    try:
        with service.client() as c:
            cid = _new(c)
            r = _send(c, cid, "Look", ("big.pdf", sample_pdf(1, size=300_000)))
            error = _refused(service, c, cid, r)
            # other routes keep their own limit, and a small message still goes
            assert _send(c, cid, "Small", ("chart.png", PNG)).status_code == 200
    finally:
        service.stop()
    assert r.status_code == 413 and "200,000 bytes" in error["message"]


def test_other_bodies_keep_the_general_limit(tmp_path: Path) -> None:
    service = start_service(tmp_path / "s.db", auth_mode="none", max_body_bytes=10_000)
    try:
        with service.client() as c:
            cid = _new(c)
            big = c.patch(f"/v1/conversations/{cid}", json={"system": "x" * 20_000})
            sent = _send(c, cid, "Look", ("chart.pdf", sample_pdf(1, size=20_000)))
    finally:
        service.stop()
    assert big.status_code == 413
    assert sent.status_code == 200, sent.text


def test_too_many_attachments_is_422(local_service: Service) -> None:
    with local_service.client() as c:
        cid = _new(c)
        r = _send(c, cid, "Look", *[(f"{i}.png", PNG) for i in range(21)])
        error = _refused(local_service, c, cid, r)
    assert r.status_code == 422 and "attachments" in error["message"]


# --- the spend check counts the attachments ---------------------------------------------------


def test_the_spend_bound_includes_the_attachments_tokens(tmp_path: Path) -> None:
    service = start_service(tmp_path / "b.db", auth_mode="none")
    state = service.app.state.claudechat
    prompts: list[int] = []

    def bound(model: str, prompt: int, max_tokens: int, budget: object) -> float:
        prompts.append(prompt)
        return (prompt * 6 + max_tokens * 15) / 1_000_000

    state.spend, state.upper_bound = Check(), bound
    try:
        with service.client() as c:
            cid = _new(c)
            state.store.set_limits("local", Limits(usd_per_day=100.0))
            assert _send(c, cid, "Hello").status_code == 200
            assert _send(c, cid, "Hello", ("doc.pdf", sample_pdf(5))).status_code == 200
            assert _send(c, cid, "Hello").status_code == 200
    finally:
        service.stop()
    plain, with_pdf, after = prompts
    assert with_pdf - plain >= 5 * 3000  # the library's estimate: 3,000 tokens a page
    assert after - plain >= 5 * 3000  # the history's PDF is resent, and counted
    assert after < with_pdf + 5 * 3000  # by its estimate, not by its base64 text


@pytest.mark.parametrize("kind", ["image", "pdf"])
def test_forks_keep_attachments(local_service: Service, kind: str) -> None:
    data, name = (PNG, "a.png") if kind == "image" else (PDF, "a.pdf")
    with local_service.client() as c:
        cid = _new(c)
        assert _send(c, cid, "Look", (name, data)).status_code == 200
        child = c.post(f"/v1/conversations/{cid}/fork", json={}).json()["id"]
        shown = c.get(f"/v1/conversations/{child}/messages").json()["data"]
    assert [a["name"] for a in shown[0]["attachments"]] == [name]
