"""Fact extraction (a table of inputs and the facts found), and the fact ledger policy on
hand-built histories: what it sends, what it records as dropped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claudechat.context import ContextEngine, ContextRequest, FactLedger, TokenWindow
from claudechat.context.base import Candidate, ContextState
from claudechat.context.facts import Fact, extract_facts, message_facts, missing, normalize
from claudechat.context.ledger import FACTS_TAG, LEDGER_NOTE, facts_block
from claudechat.context.summary import make_summarizer
from claudechat.errors import UserError
from claudechat.messages import Message, assistant, user
from claudechat.models.capabilities import model_info
from claudechat.tokens import TokenAccountant

INFO = model_info("claude-sonnet-4-6")

EXTRACTION = [
    ("We agreed the timeout is 250 ms and the disk holds 1.5 TB.", [
        ("quantity", "250 ms"), ("quantity", "1.5 TB")]),
    ("It costs $12.50 a month, about 3,400 requests.", [
        ("quantity", "$12.50"), ("quantity", "3,400 requests")]),
    ("Deploy on 2024-03-15, or March 15, 2024; the call is at 9:30 am.", [
        ("date", "2024-03-15"), ("date", "March 15, 2024"), ("date", "9:30 am")]),
    ("She moved there in May 2023, on 4 June.", [("date", "May 2023"), ("date", "4 June")]),
    ("I talked to Maria Gonzalez about Project Atlas.", [
        ("name", "Maria Gonzalez"), ("name", "Project Atlas")]),
    ("Then Caroline said she would move to Sweden.", [
        ("name", "Caroline"), ("name", "Sweden")]),
    ("Edit /etc/nginx/nginx.conf and src/app/main.py, then config.toml.", [
        ("path", "/etc/nginx/nginx.conf"), ("path", "src/app/main.py"),
        ("path", "config.toml")]),
    ("Run `git rebase -i HEAD~3` first.", [("command", "git rebase -i HEAD~3")]),
    ("Then:\n$ pip install -e .\nand wait.", [("command", "pip install -e .")]),
    ("See https://example.com/docs?x=1 or write to ops@example.org.", [
        ("url", "https://example.com/docs?x=1"), ("email", "ops@example.org")]),
    ("The bug is in parse_config() and TokenWindow.select; MAX_RETRIES is 3.", [
        ("symbol", "parse_config()"), ("symbol", "TokenWindow.select"),
        ("symbol", "MAX_RETRIES")]),
    ("The flag is `--dry-run` and the key is api_key.", [
        ("symbol", "--dry-run"), ("symbol", "api_key")]),
    ("Ticket INC-4821, commit 3eb6f2c585, release v2.3.1, PR #1234, order 48213.", [
        ("id", "INC-4821"), ("id", "3eb6f2c585"), ("id", "v2.3.1"), ("id", "#1234"),
        ("quantity", "48213")]),
    ("Its id is 7f3c9a2e-1b4d-4e8a-9c0f-5d6e7f8a9b0c.", [
        ("id", "7f3c9a2e-1b4d-4e8a-9c0f-5d6e7f8a9b0c")]),
]  # fmt: skip

PROSE = [
    "The quick brown fox jumps over the lazy dog, and then it sleeps for a while.",
    "Hello! Thanks, that is great. Sure, let me know. I think it works.",
    "This is the end. It was fine. And I liked it, e.g. the colours.",
    "Yes, I can help with that. What would you like to do next?",
    "We should probably talk about it tomorrow, when everyone is back.",
    "Good morning! How are you today? I hope the weekend went well.",
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTION)
def test_extraction_finds_each_fact_with_its_kind(
    text: str, expected: list[tuple[str, str]]
) -> None:
    found = [(f.kind, f.value) for f in extract_facts(text, "m1")]
    assert found == expected


@pytest.mark.parametrize("text", PROSE)
def test_plain_prose_yields_no_facts(text: str) -> None:
    assert extract_facts(text) == []


_QUIET = ["the", "a", "river", "stone", "moves", "slowly", "over", "quiet", "water", "and"]


@given(st.lists(st.sampled_from(_QUIET), max_size=40))
def test_lower_case_words_are_never_facts(words: list[str]) -> None:
    assert extract_facts(" ".join(words)) == []


def test_each_fact_names_its_message_and_sentence() -> None:
    messages = [
        user("The build id is BLD-9921.", id="u1"),
        assistant("Noted: BLD-9921 runs on port 8443.", id="a1"),
    ]
    facts = message_facts(messages)
    assert [(f.value, f.message_id) for f in facts] == [("BLD-9921", "u1"), ("8443", "a1")]
    assert "build id" in facts[0].snippet


def test_missing_compares_normalised_text() -> None:
    facts = extract_facts("Use `git push --force-with-lease` on 2024-03-15 with 250 ms.")
    kept = "The user asked to run GIT PUSH --force-with-lease. Deadline 2024-03-15."
    assert [f.value for f in missing(facts, kept)] == ["250 ms"]
    assert normalize("  `Foo`   Bar. ") == "foo bar"


def test_a_fact_round_trips_through_plain_data() -> None:
    fact = Fact("path", "/srv/app.py", "m9", "snippet")
    again = Fact.from_dict(fact.to_dict())
    assert (again.kind, again.value, again.message_id) == ("path", "/srv/app.py", "m9")
    assert Fact.from_dict({"kind": "nonsense", "value": "x"}).kind == "id"


# --- the ledger policy -------------------------------------------------------------------


def _history() -> list[Message]:
    filler = " ".join(["word"] * 120)
    return [
        user(f"The staging database is at /srv/db/staging.sqlite. {filler}", id="u0"),
        assistant(f"Understood, staging.sqlite it is. {filler}", id="a0"),
        user(f"The invoice INV-20417 came to $1,280.00 on 2024-02-29. {filler}", id="u1"),
        assistant(f"Recorded. {filler}", id="a1"),
        user(f"Our deploy command is `kubectl rollout restart deploy/api`. {filler}", id="u2"),
        assistant(f"Fine. {filler}", id="a2"),
        user("How much was the invoice?", id="u3"),
    ]


def _state(history: list[Message], budget: int) -> ContextState:
    return ContextState(
        budget=budget,
        counter=TokenAccountant(),
        model=INFO,
        conversation_id="c1",
        history=history,
        query=history[-1].text,
    )


def test_the_ledger_sends_the_dropped_facts_relevant_to_the_question_first() -> None:
    history = _history()
    state = _state(history, 100_000)
    candidate = Candidate(system=[], tools=[], history=history[-1:])
    out = FactLedger(max_tokens=300).apply(candidate, state)
    assert len(out.injected) == 1
    text = out.injected[0]["text"]
    assert text.startswith(f"<{FACTS_TAG}>")
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- INV-20417") or lines[0].startswith("- $1,280.00")
    for value in ("INV-20417", "$1,280.00", "/srv/db/staging.sqlite", "kubectl rollout"):
        assert value in text
    record = out.notes[LEDGER_NOTE]
    assert record["messages"] == 6 and record["facts"] >= 5 and record["sent"] == record["facts"]


def test_facts_still_in_the_kept_turns_or_the_summary_are_not_sent_again() -> None:
    history = _history()
    state = _state(history, 100_000)
    summary = "The user's invoice INV-20417 was $1,280.00."
    candidate = Candidate(system=[], tools=[], history=history[4:], summary=summary)
    out = FactLedger().apply(candidate, state)
    text = out.injected[0]["text"]
    listed = [line.split(": ")[0] for line in text.splitlines() if line.startswith("- ")]
    assert "- INV-20417" not in listed and "- $1,280.00" not in listed
    assert not any("kubectl" in line for line in listed)
    assert "2024-02-29" in text and "/srv/db/staging.sqlite" in text


def test_the_ledger_stays_within_its_token_cap_and_the_budget() -> None:
    history = _history()
    counter = TokenAccountant()
    state = _state(history, 100_000)
    candidate = Candidate(system=[], tools=[], history=history[-1:])
    out = FactLedger(max_tokens=60).apply(candidate, state)
    assert counter.text_tokens(out.injected[0]["text"]) <= 60
    assert out.notes[LEDGER_NOTE]["sent"] < out.notes[LEDGER_NOTE]["facts"]
    nothing = FactLedger(max_tokens=0).apply(candidate, state)
    assert not nothing.injected and nothing.notes[LEDGER_NOTE]["facts"] >= 5
    with pytest.raises(UserError):
        FactLedger(max_tokens=-1)


def test_nothing_dropped_means_no_block_and_no_record() -> None:
    history = _history()
    candidate = Candidate(system=[], tools=[], history=history)
    out = FactLedger().apply(candidate, _state(history, 100_000))
    assert out is candidate


def test_facts_block_skips_a_line_too_long_and_takes_a_shorter_one() -> None:
    facts = [Fact("id", "X" * 400, "m"), Fact("id", "INC-1", "m")]
    text, chosen = facts_block(facts, max_tokens=60, count=TokenAccountant().text_tokens)
    assert [f.value for f in chosen] == ["INC-1"] and "INC-1" in text


def test_through_the_engine_a_trimmed_window_keeps_its_facts_in_the_request() -> None:
    history = _history()
    engine = ContextEngine([TokenWindow(low_water=1.0), FactLedger()], budget=400)
    request = ContextRequest(model=INFO, max_tokens=256, system=[], tools=[], history=history,
                             query=history[-1].text, conversation_id="c1")  # fmt: skip
    prepared = engine.prepare(request)
    assert len(prepared.candidate.history) < len(history)
    sent = str(prepared.request.messages[-1]["content"])
    for value in ("INV-20417", "$1,280.00", "2024-02-29"):
        assert value in sent
    assert prepared.candidate.notes[LEDGER_NOTE]["messages"] > 0


def test_the_summary_prompt_lists_the_facts_to_keep() -> None:
    asked: list[str] = []

    def complete(system: str, prompt: str, **kw: object) -> str:
        asked.append(prompt)
        return "summary"

    summarize = make_summarizer(complete, model="m")
    summarize("User: INC-4821 at 9:30 am", None, max_tokens=200, facts=["INC-4821", "9:30 am"])
    assert "<facts_to_keep>\n- INC-4821\n- 9:30 am\n</facts_to_keep>" in asked[0]
    summarize("User: hi", None, max_tokens=200)
    assert "facts_to_keep" not in asked[1]


def test_tokens_shows_what_was_dropped_and_the_newest_facts() -> None:
    from claudechat.cli.render import fill_lines
    from claudechat.context import WindowFill

    record = {"messages": 12, "facts": 31, "sent": 9, "first": ["INC-4821", "275 ms"]}
    fill = WindowFill(tokens=900, budget=2_000, exact=True, messages_total=20,
                      messages_sent=8, notes={LEDGER_NOTE: record})  # fmt: skip
    lines = fill_lines(fill)
    assert "dropped: 12 messages; 31 facts only in the ledger, 9 sent" in lines
    assert "  newest: INC-4821, 275 ms" in lines
    quiet = WindowFill(tokens=900, budget=2_000, exact=True, messages_total=8, messages_sent=8)
    assert not any(line.startswith("dropped") for line in fill_lines(quiet))
