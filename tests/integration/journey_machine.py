"""The journey machine: what users do with a Chat, in any order, and the promises checked
after every step (issue 11, Deliver item 1).

The library runs as users run it: the official SDK over the emulator, a real SQLite file
in a temporary directory, a new Chat (new engine, new store object) on every resume. The
model of what the user expects is kept here, from the user's actions only: for every
conversation, the prompts on the branch where the user left it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from chats import HAIKU, SONNET, ChatKind, ChatMaker, assert_valid_request, words
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from journey_api import Answer, ObservedEmulator

from claudechat import (
    Chat,
    ClaudeChatError,
    ConcurrentUpdate,
    ContextEngine,
    InvalidHistory,
    Message,
    UserError,
    strategy_policies,
)
from claudechat.accounting import store_cost_report
from claudechat.context.base import SUMMARY_TAG
from claudechat.messages import to_api_messages
from claudechat.store.export import export_json, import_conversation
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Fault

INVARIANTS = (
    "stored",  # every user message that reached the API is stored, on the user's branch
    "valid",  # every request the API received is valid
    "no_silent_loss",  # a turn is left out only under a covering summary, or for the budget
    "ledger",  # stored cost = what the API billed for the conversation, each request once
    "local_reject",  # a request rejected locally stores nothing
    "writers",  # each user message has its own whole reply; a refused writer stores nothing
    "typed",  # every failure is a ClaudeChatError
)
STRATEGIES = ("window", "summary", "compact")
BUDGETS = (500, 700, 1000, 1600, 4000)
FAULTS: dict[str, Callable[[], Fault]] = {
    "429": lambda: Fault.status(429, retry_after=0),
    "500": lambda: Fault.status(500),
    "529": lambda: Fault.status(529),
    "midstream": lambda: Fault.midstream_error(after_events=6),
    "midstream-early": lambda: Fault.midstream_error(after_events=1),
    "drop": lambda: Fault.drop(after_events=7),
    "drop-early": lambda: Fault.drop(after_events=1),
}
BAD_INPUTS = ("empty", "surrogate", "over_budget", "max_tokens", "cache_control")
SYSTEMS = ("", "Be brief.", "You are a careful assistant who keeps track of every detail.")
FIT_MARGIN = 0.95  # estimates differ a little from the API's count: leave it a margin


def first_text(message: Message) -> str:
    """The first text block of a message (a prompt's identity in this journey)."""
    return next((str(b["text"]) for b in message.content if b.get("type") == "text"), "")


def last_text(message: Message) -> str:
    """The last text block of a message (what a request's last user block matches)."""
    texts = [str(b["text"]) for b in message.content if b.get("type") == "text"]
    return texts[-1] if texts else ""


class JourneyViolation(AssertionError):
    """An invariant of issue 11 does not hold."""


class Journey(RuleBasedStateMachine):
    """Users' actions as rules; the invariants checked after every step."""

    checks: frozenset[str] = frozenset(INVARIANTS)
    bad_inputs: tuple[str, ...] = BAD_INPUTS  # the kinds of bad input the user tries
    interleaved_writers: bool = True  # whether another process sends mid-stream
    kind: ChatKind = "sync"  # "async": every chat an AsyncChat (behind Chat's API)

    def __init__(self) -> None:
        super().__init__()
        self.maker = ChatMaker(self.kind)
        self.dir = Path(tempfile.mkdtemp(prefix="journey-"))
        self.path = self.dir / "chats.db"
        self.emu = ObservedEmulator(clock=lambda: 0.0)
        self.stores: list[SQLiteStore] = []
        self.reader = self._store()
        self.strategy = "window"
        self.budget = 1600
        self.chat = self._new_chat(None)
        self.paths: dict[str, list[str]] = {}  # conversation -> prompts on the user's branch
        self.prefix: dict[str, list[str]] = {}  # prompt -> the branch it was said on
        self.prompts = 0
        self.checked = 0  # answers already checked
        self.rejected = 0  # rejections already reported
        self.budgets: dict[int, int] = {}  # answer number -> the budget it was made under
        self.failures: list[tuple[str, str]] = []

    def teardown(self) -> None:
        for store in self.stores:
            store.close()
        self.maker.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the world ------------------------------------------------------------------------

    def _store(self) -> SQLiteStore:
        store = SQLiteStore(self.path)
        self.stores.append(store)
        return store

    def _engine(self) -> ContextEngine:
        return ContextEngine(strategy_policies(self.strategy), budget=self.budget)

    def _new_chat(self, cid: str | None, **kw: Any) -> Chat:
        """A chat as a new process makes it: a new store object and engine, same file (an
        AsyncChat behind Chat's API when ``kind`` is "async")."""
        store = self._store()
        if cid is None:
            made: Chat = self.maker(self.emu, SONNET, store=store, context=self._engine(), **kw)
            return made
        resumed: Chat = self.maker.resume(
            cid, emu=self.emu, store=store, context=self._engine(), **kw
        )
        return resumed

    def _prompt(self, n: int) -> str:
        self.prompts += 1
        return f"p{self.prompts} " + words(n, self.prompts)

    @property
    def cid(self) -> str | None:
        return self.chat.id

    def _path(self) -> list[str]:
        cid = self.cid
        return self.paths.setdefault(cid, []) if cid is not None else []

    def _said(self, cid: str, prompt: str) -> None:
        path = self.paths.setdefault(cid, [])
        path.append(prompt)
        self.prefix[prompt] = list(path)

    def _snapshot(self) -> tuple[int, int]:
        convs = self.reader.list_conversations(limit=10_000)
        return len(convs), sum(len(self.reader.all_messages(c.conversation.id)) for c in convs)

    def expect(self, name: str, ok: bool, message: str) -> None:
        """Record a broken invariant; raise when this machine checks it."""
        if ok:
            return
        self.failures.append((name, message))
        if name in self.checks:
            raise JourneyViolation(f"[{name}] {message}")

    # --- one user action ------------------------------------------------------------------

    def _act(self, chat: Chat, run: Callable[[], object]) -> tuple[BaseException | None, bool]:
        """Run an action of ``chat``; (the error it raised, whether a request was sent).
        A local rejection must leave the store as it was."""
        requests, answers = len(self.emu.requests), len(self.emu.answers)
        before = self._snapshot()
        error: BaseException | None = None
        try:
            run()
        except ClaudeChatError as err:
            error = err
        except Exception as err:  # a defect: every failure should be typed
            error = err
            self.expect("typed", False, f"untyped {type(err).__name__}: {err}")
        finally:
            self.emu.withdraw_faults()
        budget = chat.context.budget_for(chat.info, chat.max_tokens)
        for answer in self.emu.answers[answers:]:
            answer.conversation = chat.id
            self.budgets[answer.number] = budget
        sent = len(self.emu.requests) > requests
        if error is not None and not sent:
            after = self._snapshot()
            self.expect(
                "local_reject",
                after == before,
                f"{type(error).__name__} ({error}) raised before any request, but the store "
                f"went from {before} to {after} (conversations, messages)",
            )
        if error is not None:
            chat.reload()
        return error, sent

    def _turn(self, prompt: str, run: Callable[[], object], chat: Chat | None = None) -> bool:
        """A user turn; the model notes the prompt when it should be stored. True if it was."""
        chat = chat or self.chat
        error, sent = self._act(chat, run)
        if isinstance(error, ConcurrentUpdate) and not sent:
            return False
        if error is None or sent:
            assert chat.id is not None
            self._said(chat.id, prompt)
            return True
        return False

    @staticmethod
    def _drain(result: object, stop_after: int | None = None) -> str:
        shown = ""
        if isinstance(result, Generator):
            for i, piece in enumerate(result):
                shown += piece
                if stop_after is not None and i + 1 >= stop_after:
                    result.close()  # what leaving the loop (or Ctrl-C) does
                    break
        return shown

    # --- rules: talking ---------------------------------------------------------------------

    @initialize(
        strategy=st.sampled_from(STRATEGIES),
        budget=st.sampled_from(BUDGETS[:3]),
        n=st.integers(3, 40),
    )
    def first_message(self, strategy: str, budget: int, n: int) -> None:
        """A strategy and a small budget (trimming happens), then the first turn."""
        self.strategy, self.budget = strategy, budget
        self.chat.context = self._engine()
        self.send(n, stream=False)

    @rule(n=st.integers(3, 80), stream=st.booleans())
    def send(self, n: int, stream: bool) -> None:
        """Say something of ``n`` words and read the whole reply."""
        prompt = self._prompt(n)
        if stream:
            self._turn(prompt, lambda: self._drain(self.chat.stream(prompt)))
        else:
            self._turn(prompt, lambda: self.chat.send(prompt))

    @rule(n=st.integers(3, 40), after=st.integers(1, 8))
    def leave_stream_early(self, n: int, after: int) -> None:
        """Stop reading a streamed reply after ``after`` pieces (a break, or Ctrl-C)."""
        prompt = self._prompt(n)
        self._turn(prompt, lambda: self._drain(self.chat.stream(prompt), stop_after=after))

    @rule(
        fault=st.sampled_from(sorted(FAULTS)),
        n=st.integers(3, 40),
        stream=st.booleans(),
        late=st.booleans(),
    )
    def faulted_send(self, fault: str, n: int, stream: bool, late: bool = False) -> None:
        """A turn whose first request (or with ``late``, its second: the reply after a
        summary request) meets an API fault."""
        self.emu.inject(FAULTS[fault](), at_request=len(self.emu.requests) + 1 + late)
        self.send(n, stream)

    @rule(stream=st.booleans())
    def retry(self, stream: bool) -> None:
        """Ask for another reply to the last prompt."""
        chat = self.chat
        self._act(chat, lambda: self._drain(chat.retry_stream() if stream else chat.retry()))

    @rule(pick=st.integers(0, 99), n=st.integers(3, 40))
    def edit(self, pick: int, n: int) -> None:
        """Replace a prompt of the branch by a new one (a new branch from there)."""
        path = self._path()
        users = [m for m in self.chat.history if m.is_user_text and first_text(m) in path]
        if not users:
            return
        old = users[pick % len(users)]
        keep = path[: path.index(first_text(old))]
        prompt = self._prompt(n)
        chat = self.chat
        error, sent = self._act(chat, lambda: self._drain(chat.edit(old.id, prompt)))
        if error is None or sent:
            assert chat.id is not None
            self.paths[chat.id] = keep
            self._said(chat.id, prompt)

    @rule()
    def undo(self) -> None:
        """Move back one turn."""
        chat = self.chat
        error, _ = self._act(chat, chat.undo)
        if error is None and self._path():
            self._path().pop()

    @rule(pick=st.integers(0, 999), to_reply=st.booleans())
    def checkout(self, pick: int, to_reply: bool) -> None:
        """Go to a stored prompt, or one of its replies, on any branch."""
        cid = self.cid
        if cid is None:
            return
        stored = self.reader.all_messages(cid)
        users = [m for m in stored if m.is_user_text and first_text(m) in self.prefix]
        if not users:
            return
        target = users[pick % len(users)]
        replies = [m for m in stored if m.parent_id == target.id and m.role == "assistant"]
        if to_reply and replies:
            target = replies[pick % len(replies)]
        chat = self.chat
        error, _ = self._act(chat, lambda: chat.checkout(target.id))
        if error is None:
            self.paths[cid] = list(self.prefix[first_text(users[pick % len(users)])])

    @rule(n=st.integers(3, 40))
    def compact_then_send(self, n: int) -> None:
        """Ask for compaction now, then say something."""
        self.chat.compact()
        self.send(n, stream=False)

    # --- rules: copies ---------------------------------------------------------------------

    @rule(switch=st.booleans())
    def fork(self, switch: bool) -> None:
        """Copy the branch into a new conversation; maybe go on there."""
        cid = self.cid
        if cid is None:
            return
        made: list[Chat] = []
        error, _ = self._act(self.chat, lambda: made.append(self.chat.fork()))
        if error is None:
            child = made[0]
            assert child.id is not None
            self.paths[child.id] = list(self.paths.get(cid, []))
            if switch:
                self.chat = child

    @rule(switch=st.booleans())
    def export_then_import(self, switch: bool) -> None:
        """Export the conversation and import it back as a copy; maybe go on there."""
        cid = self.cid
        if cid is None:
            return
        conv = import_conversation(self.reader, export_json(self.reader, cid))
        self.paths[conv.id] = list(self.paths.get(cid, []))
        if switch:
            self.chat = self._new_chat(conv.id)

    # --- rules: settings -------------------------------------------------------------------

    @rule(strategy=st.sampled_from(STRATEGIES))
    def set_strategy(self, strategy: str) -> None:
        """Switch the context strategy (a new engine)."""
        self.strategy = strategy
        self.chat.context = self._engine()

    @rule(budget=st.sampled_from(BUDGETS))
    def set_budget(self, budget: int) -> None:
        """Change the token budget."""
        self.budget = budget
        self.chat.context.budget = budget

    @rule(model=st.sampled_from((SONNET, HAIKU)))
    def set_model(self, model: str) -> None:
        """Switch the model."""
        chat = self.chat
        self._act(chat, lambda: chat.set_model(self.maker.model(self.emu, model)))

    @rule(system=st.sampled_from(SYSTEMS))
    def set_system(self, system: str) -> None:
        """Change the system prompt."""
        chat = self.chat
        self._act(chat, lambda: setattr(chat, "system", system))

    @rule(strategy=st.sampled_from(STRATEGIES))
    def resume(self, strategy: str) -> None:
        """Quit and start again on the same conversation (what ``chat --cid X`` does)."""
        if self.cid is None:
            return
        self.strategy = strategy
        self.chat = self._new_chat(self.cid)

    # --- rules: bad input ------------------------------------------------------------------

    @rule(kind=st.sampled_from(BAD_INPUTS))
    def bad_input(self, kind: str) -> None:
        """Try something claudechat can refuse before storing or sending anything."""
        if kind not in self.bad_inputs:
            return
        prompt = self._prompt(3)
        chat = self.chat
        content: Any = prompt
        if kind == "empty":
            content = "   "
        elif kind == "surrogate":
            content = prompt + " \ud800"
        elif kind == "over_budget":
            content = prompt + " " + words(self.budget, self.prompts)
        elif kind == "max_tokens":
            requests, before = len(self.emu.requests), self._snapshot()
            try:
                chat = self._new_chat(self.cid, max_tokens=200_000)
            except UserError:  # refused when the Chat is made, before anything is stored
                unchanged = self._snapshot() == before and len(self.emu.requests) == requests
                self.expect("local_reject", unchanged, "a refused Chat stored or sent")
                return
        elif kind == "cache_control":
            chat.system = chat.system or SYSTEMS[1]
            content = [
                {
                    "type": "text",
                    "text": f"{prompt} part {i}",
                    "cache_control": {"type": "ephemeral"},
                }
                for i in range(3)
            ]
        label = prompt if kind != "cache_control" else f"{prompt} part 0"
        error, _ = self._act(chat, lambda: chat.send(content))
        if kind == "cache_control" and error is None:
            assert chat.id is not None
            self._said(chat.id, label)  # the library made it fit: a turn like any other
            return
        # A bad input that was stored anyway (a broken invariant, reported) is undone by
        # the user, as they would, so the journey goes on from where they meant to be.
        branch = self.reader.branch(chat.id) if chat.id is not None else []
        users = [m for m in branch if m.is_user_text]
        if users and first_text(users[-1]).startswith(prompt):
            self.chat.reload()
            self.chat.undo()
        if chat is not self.chat:
            self.chat.reload()

    # --- rules: two writers ----------------------------------------------------------------

    @rule(n=st.integers(3, 40))
    def second_writer(self, n: int) -> None:
        """Another process says something on this conversation; then this one speaks."""
        cid = self.cid
        if cid is None:
            return
        other = self._new_chat(cid)
        prompt = self._prompt(n)
        self._turn(prompt, lambda: other.send(prompt), other)
        stale = self._prompt(n)
        before = self._snapshot()
        requests = len(self.emu.requests)
        stored = self._turn(stale, lambda: self.chat.send(stale))
        if not stored:
            self.expect(
                "writers",
                self._snapshot() == before and len(self.emu.requests) == requests,
                "a refused writer stored or sent something",
            )

    @precondition(lambda self: self.interleaved_writers)
    @rule(n=st.integers(3, 40), after=st.integers(1, 6))
    def writer_during_stream(self, n: int, after: int) -> None:
        """Another process sends while this one's reply is streaming."""
        cid = self.cid
        if cid is None:
            return
        chat = self.chat
        prompt = self._prompt(n)
        other_prompt = self._prompt(n)

        other_said: list[bool] = []

        def both() -> None:
            stream = chat.stream(prompt)
            for _ in range(after):
                if next(stream, None) is None:
                    break
            other = self._new_chat(cid)
            before = self._snapshot()
            requests = len(self.emu.requests)
            other_error, _ = self._act(other, lambda: other.send(other_prompt))
            other_said.append(other_error is None)
            if other_error is not None:
                self.expect(
                    "writers",
                    isinstance(other_error, ConcurrentUpdate)
                    and self._snapshot() == before
                    and len(self.emu.requests) == requests,
                    f"a refused writer got {type(other_error).__name__} or stored something",
                )
            self._drain(stream)

        answers = len(self.emu.answers)
        self._act(chat, both)
        if any(prompt in a.user_texts() for a in self.emu.answers[answers:]):
            self._said(cid, prompt)  # it reached the API: stored before the other's
        if other_said == [True]:
            self._said(cid, other_prompt)

    # --- the invariants --------------------------------------------------------------------

    @invariant()
    def promises_kept(self) -> None:
        answers = self.emu.answers[self.checked :]
        self.checked = len(self.emu.answers)
        rejected = self.emu.rejected[self.rejected :]
        self.rejected = len(self.emu.rejected)
        self.expect("valid", not rejected, f"the API rejected {rejected}")
        for answer in answers:
            self._check_valid(answer)
            if answer.is_summary or answer.conversation is None or answer.body is None:
                continue
            self._check_no_silent_loss(answer)
            self._check_own_reply(answer)
        self._check_stored()
        self._check_ledger()

    def _check_valid(self, answer: Answer) -> None:
        if answer.body is None:
            return
        try:
            assert_valid_request(answer, body=answer.body)  # type: ignore[arg-type]
        except (AssertionError, InvalidHistory) as err:
            self.expect("valid", False, f"request {answer.number} is invalid: {err}")

    def _user_message(self, answer: Answer) -> Message | None:
        text = answer.last_user_text
        assert answer.conversation is not None
        found = [
            m
            for m in self.reader.all_messages(answer.conversation)
            if m.is_user_text and text is not None and last_text(m) == text
        ]
        return found[-1] if found else None

    def _check_stored(self) -> None:
        reached = {
            t for a in self.emu.answers if not a.is_summary and a.body for t in a.user_texts()
        }
        everything: set[str] = set()
        for cid, path in self.paths.items():
            everything.update(
                str(b.get("text", ""))
                for m in self.reader.all_messages(cid)
                if m.role == "user"
                for b in m.content
            )
            branch = [first_text(m) for m in self.reader.branch(cid) if m.is_user_text]
            expected = [t for t in path if t in reached]
            got = [t for t in branch if t in reached]
            self.expect(
                "stored",
                got == expected,
                f"conversation {cid}: the branch holds {_short(got)}, the user left it at "
                f"{_short(expected)}",
            )
        for a in self.emu.answers:
            if a.is_summary or not a.body or a.conversation not in self.paths:
                continue
            lost = [t for t in a.user_texts() if t.startswith("p") and t not in everything]
            self.expect("stored", not lost, f"sent but not stored: {_short(lost)}")

    def _check_no_silent_loss(self, answer: Answer) -> None:
        user = self._user_message(answer)
        if user is None or answer.body is None:
            return
        cid = answer.conversation
        assert cid is not None
        branch = self.reader.branch(cid, head_id=user.id)
        sent = set(answer.user_texts())
        missing = [m for m in branch if m.is_user_text and first_text(m) not in sent]
        if not missing:
            return
        body = answer.body
        system = " ".join(str(b.get("text", "")) for b in body.get("system") or [])
        if any(
            b.get("type") == "compaction"
            for m in body["messages"]
            if m["role"] == "assistant"
            for b in m["content"]
        ):
            return
        covered: set[str] = set()
        if f"<{SUMMARY_TAG}>" in system:
            ids = [m.id for m in branch]
            for s in self.reader.summaries(cid):
                if s.text.strip() in system and s.last_id in ids:
                    covered.update(ids[: ids.index(s.last_id) + 1])
        uncovered = [m for m in missing if m.id not in covered]
        if not uncovered:
            return
        whole = self.emu.count_request_tokens({**body, "messages": to_api_messages(branch)})
        budget = self.budgets[answer.number]
        self.expect(
            "no_silent_loss",
            whole > budget * FIT_MARGIN,
            f"request {answer.number} left out {len(uncovered)} of {len(missing) + 0} missing "
            f"turns ({_short([first_text(m) for m in uncovered])}) with no summary covering "
            f"them, although the whole branch takes {whole} tokens of a {budget}-token budget "
            f"(the request took {self.emu.count_request_tokens(body)})",
        )

    def _check_own_reply(self, answer: Answer) -> None:
        if not answer.text:
            return
        user = self._user_message(answer)
        assert answer.conversation is not None
        replies = [
            m.text
            for m in self.reader.all_messages(answer.conversation)
            if user is not None and m.parent_id == user.id and m.role == "assistant"
        ]
        self.expect(
            "writers",
            answer.text in replies,
            f"request {answer.number}: the API sent a {len(answer.text)}-character reply "
            f"to {answer.last_user_text!r:.40}; stored under it: "
            f"{[len(r) for r in replies]} characters",
        )

    def _check_ledger(self) -> None:
        for cid in self.paths:
            usage = store_cost_report(self.reader, [cid]).usage
            stored = (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_write_tokens,
                usage.cache_read_tokens,
                usage.requests,
            )
            billed = [0, 0, 0, 0, 0]
            for a in self.emu.answers:
                if a.conversation == cid:
                    billed = [x + y for x, y in zip(billed, a.billed(), strict=True)]
            self.expect(
                "ledger",
                stored == tuple(billed),
                f"conversation {cid}: stored (input, output, cache write, cache read, "
                f"requests) = {stored}, the API billed {tuple(billed)}",
            )


def _short(texts: list[str]) -> list[str]:
    return [t.split(" ", 1)[0] for t in texts]
