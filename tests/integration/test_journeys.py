"""Journey tests: what users do crosses features. Random sequences of sends, streams,
interruptions, retries, edits, undo, checkout, forks, compaction, strategy / budget /
model / system changes, resumes in a new process, export and import, API faults, bad
input and a second writer, with the promises of issue 11 checked after every step.

``CLAUDECHAT_JOURNEY_EXAMPLES`` (default 25) and ``CLAUDECHAT_JOURNEY_STEPS`` (default 30)
run it longer. Below the random run, the shortest sequences that broke an invariant before
issue 11's fixes stay as regression tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from journey_machine import BAD_INPUTS, HAIKU, INVARIANTS, Journey

EXAMPLES = int(os.environ.get("CLAUDECHAT_JOURNEY_EXAMPLES", "25"))
STEPS = int(os.environ.get("CLAUDECHAT_JOURNEY_STEPS", "30"))


class KeptPromises(Journey):
    """The journey, checking every invariant, with every bad input and interleaved writers."""

    checks = frozenset(INVARIANTS)
    bad_inputs = BAD_INPUTS
    interleaved_writers = True


class AsyncKeptPromises(KeptPromises):
    """The same journeys with AsyncChat: the promises hold for both kinds of chat."""

    kind = "async"


@pytest.mark.parametrize("machine", [KeptPromises, AsyncKeptPromises], ids=["sync", "async"])
def test_random_journeys_keep_the_promises(machine: type[Journey]) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# --- the sequences that break an invariant today -------------------------------------------

Step = Callable[[Journey], object]


def replay(invariant: str, *steps: Step) -> None:
    """Run ``steps`` on a fresh journey checking only ``invariant``, checking after each."""
    journey = Journey()
    journey.checks = frozenset({invariant})
    try:
        journey.promises_kept()
        for step in steps:
            step(journey)
            journey.promises_kept()
    finally:
        journey.teardown()


def send(n: int = 3, stream: bool = False) -> Step:
    return lambda j: j.send(n=n, stream=stream)


def test_no_silent_loss_after_summary_then_window() -> None:
    replay(
        "no_silent_loss",
        lambda j: j.set_strategy(strategy="summary"),
        send(),
        lambda j: j.compact_then_send(n=3),
        lambda j: j.resume(strategy="window"),
        send(),
    )


def test_ledger_fork_adds_no_spend() -> None:
    replay("ledger", send(), lambda j: j.fork(switch=False))


def test_ledger_import_adds_no_spend() -> None:
    replay("ledger", send(), lambda j: j.export_then_import(switch=False))


def test_ledger_counts_a_stream_left_early() -> None:
    replay("ledger", lambda j: j.leave_stream_early(n=3, after=1))


def test_ledger_counts_a_summary_whose_turn_failed() -> None:
    replay(
        "ledger",
        lambda j: j.set_strategy(strategy="summary"),
        send(20),
        send(20),
        lambda j: j.chat.compact(),
        lambda j: j.faulted_send(fault="429", n=5, stream=False, late=True),
    )


def test_valid_with_caller_cache_control() -> None:
    replay("valid", send(), lambda j: j.bad_input(kind="cache_control"))


def test_valid_max_tokens_over_the_cap() -> None:
    replay("valid", send(), lambda j: j.bad_input(kind="max_tokens"))


def test_local_reject_max_tokens_filling_the_window() -> None:
    replay(
        "local_reject",
        send(),
        lambda j: j.set_model(model=HAIKU),
        lambda j: j.bad_input(kind="max_tokens"),
    )


def test_local_reject_prompt_over_the_budget() -> None:
    replay("local_reject", lambda j: j.bad_input(kind="over_budget"))


def test_typed_error_for_a_lone_surrogate() -> None:
    replay("typed", send(), lambda j: j.bad_input(kind="surrogate"))


def test_writers_reply_not_cut_by_a_second_writer() -> None:
    replay("writers", send(), lambda j: j.writer_during_stream(n=3, after=1))


def test_no_silent_loss_after_undo() -> None:
    replay(
        "no_silent_loss",
        lambda j: j.set_budget(budget=1000),
        *[send(40)] * 7,
        *[lambda j: j.undo()] * 3,
        send(3),
    )


def test_ledger_counts_a_stream_cut_before_any_text() -> None:
    replay("ledger", send(), lambda j: j.faulted_send(fault="drop-early", n=3, stream=True))


def test_no_silent_loss_after_resume_on_an_estimate() -> None:
    replay(
        "no_silent_loss",
        lambda j: j.first_message(strategy="window", budget=500, n=29),
        send(32),
        lambda j: j.resume(strategy="window"),
        send(24),
    )


def test_no_silent_loss_when_a_count_interrupts_a_trim() -> None:
    """A side call (the exact count before dropping turns) ends an attempt at the request;
    the window must not keep what that attempt decided on estimates."""
    replay(
        "no_silent_loss",
        lambda j: j.first_message(strategy="window", budget=500, n=10),
        lambda j: j.leave_stream_early(after=1, n=17),
        lambda j: j.second_writer(n=36),
    )
