"""The engine asks, the caller answers: side calls of ``ContextEngine.step``."""

from __future__ import annotations

from claudechat.context import ContextEngine, ContextRequest, Prepared, SideCall
from claudechat.context.summary import RollingSummary
from claudechat.context.window import TokenWindow
from claudechat.messages import Message, assistant, user
from claudechat.models.capabilities import model_info
from claudechat.tokens import TokenAccountant

INFO = model_info("claude-sonnet-4-6")


def by_words(text: str, family: str) -> int:
    return len(text.split())


def history(turns: int, size: int = 50) -> list[Message]:
    out: list[Message] = []
    for i in range(turns):
        out += [user(f"q{i} " + " ".join(["w"] * size)), assistant(f"a{i} " + "x " * size)]
    return [*out, user("now")]


def request(messages: list[Message], **kw: object) -> ContextRequest:
    return ContextRequest(model=INFO, max_tokens=500, system=[], tools=[], history=messages,
                          conversation_id="c1", **kw)  # type: ignore[arg-type]  # fmt: skip


def summary_engine() -> ContextEngine:
    policy = RollingSummary(window=TokenWindow(low_water=0.5), max_summary_tokens=100)
    return ContextEngine([policy], budget=1_000, counter=TokenAccountant(estimator=by_words))


def test_a_summary_is_asked_for_then_made_from_the_answer() -> None:
    engine = summary_engine()
    req = request(history(20))
    step = engine.step(req, {})
    assert isinstance(step, SideCall) and step.kind == "summary"
    assert step.request.model == engine.summary_model
    assert "q0 " in step.request.messages[0]["content"][0]["text"]
    assert engine.last is None  # nothing was prepared yet
    done = engine.step(req, {step.key: "the user asked twenty questions"})
    assert isinstance(done, Prepared)
    assert "twenty questions" in done.request.system[-1]["text"]
    [kept] = done.keep.summaries  # handed back for the caller to store
    assert kept.conversation_id == "c1" and kept.text == "the user asked twenty questions"


def test_an_unanswered_attempt_leaves_the_policies_memory_as_it_was() -> None:
    """The attempt that stopped at the side call remembered nothing: answering it makes
    the summary once, and the engine asks for nothing more."""
    engine = summary_engine()
    req = request(history(20))
    first = engine.step(req, {})
    second = engine.step(req, {})
    assert isinstance(first, SideCall) and isinstance(second, SideCall)
    assert first.key == second.key  # the same question, not a fold of a fold
    answers: dict[str, str | int] = {first.key: "summary"}
    assert isinstance(engine.step(req, answers), Prepared)
    more = [*history(20)[:-1], assistant("a"), user("next")]
    assert isinstance(engine.step(request(more), answers), Prepared)  # no new fold needed


def test_without_a_summariser_the_window_drops_and_says_so() -> None:
    engine = summary_engine()
    prepared = engine.prepare(request(history(20)))
    assert prepared.candidate.notes["summary_skipped"] == "no summary model"
    assert prepared.keep.summaries == []


def test_a_dry_run_asks_nothing_and_keeps_nothing() -> None:
    engine = summary_engine()
    step = engine.step(request(history(20), dry_run=True), {})
    assert isinstance(step, Prepared)
    assert step.keep.summaries == [] and step.keep.window_start is None
    assert engine.last is None
