"""retry / edit / undo / fork / checkout: siblings, branch switching, and what is sent after."""

from __future__ import annotations

import pytest
from chats import ChatMaker, assert_valid_request, message_requests, sent_roles_and_texts

from claudechat import Chat, UserError
from claudechat.store import MemoryStore, ScopedStore
from claudechat.testing import Emulator, EmuRequest


class Counter:
    """A model whose replies say which request they answer and to what."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, request: EmuRequest) -> str:
        self.n += 1
        return f"r{self.n}:{request.last_user_text}"


def _chat(make_chat: ChatMaker) -> tuple[Chat, Emulator]:
    emu = Emulator(reply=Counter())
    return make_chat(emu), emu


def _last_sent(emu: Emulator) -> list[tuple[str, str]]:
    request = message_requests(emu)[-1]
    assert_valid_request(request)
    return sent_roles_and_texts(request)


def test_retry_makes_a_sibling_reply_and_sends_the_history_without_the_old_one(
    make_chat: ChatMaker,
) -> None:
    chat, emu = _chat(make_chat)
    chat.send("A")
    old = chat.send("B")
    new = chat.retry()
    assert not isinstance(new, str) and hasattr(new, "text")
    assert new.text == "r3:B"  # type: ignore[union-attr]
    assert _last_sent(emu) == [("user", "A"), ("assistant", "r1:A"), ("user", "B")]
    siblings = chat.siblings(old.id)
    assert [m.text for m in siblings] == ["r2:B", "r3:B"]
    assert [m.text for m in chat.history] == ["A", "r1:A", "B", "r3:B"]
    # Streaming retry: one more sibling, pieces as they arrive.
    text = "".join(chat.retry_stream())
    assert text == "r4:B"
    assert [m.text for m in chat.siblings(old.id)] == ["r2:B", "r3:B", "r4:B"]
    chat.send("C")
    assert _last_sent(emu) == [
        ("user", "A"),
        ("assistant", "r1:A"),
        ("user", "B"),
        ("assistant", "r4:B"),
        ("user", "C"),
    ]


def test_retry_after_a_failed_turn_sends_the_unanswered_prompt_again(make_chat: ChatMaker) -> None:
    from claudechat import Overloaded
    from claudechat.testing import Fault

    chat, emu = _chat(make_chat)
    chat.send("A")
    emu.inject(Fault.status(529))
    with pytest.raises(Overloaded):
        chat.send("B")
    reply = chat.retry()
    assert reply.text == "r2:B"  # type: ignore[union-attr]
    assert _last_sent(emu) == [("user", "A"), ("assistant", "r1:A"), ("user", "B")]


def test_edit_replaces_a_user_message_on_a_new_branch(make_chat: ChatMaker) -> None:
    chat, emu = _chat(make_chat)
    first = chat.send("A")
    chat.send("B")
    user_b = chat.history[2]
    reply = chat.edit(user_b.id, "B2")
    assert reply.text == "r3:B2"  # type: ignore[union-attr]
    assert _last_sent(emu) == [("user", "A"), ("assistant", "r1:A"), ("user", "B2")]
    assert [m.text for m in chat.history] == ["A", "r1:A", "B2", "r3:B2"]
    assert [m.text for m in chat.siblings(user_b.id)] == ["B", "B2"]
    # Editing the very first message starts a new root.
    root = chat.history[0]
    chat.edit(root.id, "A2")
    assert _last_sent(emu) == [("user", "A2")]
    assert [m.text for m in chat.siblings(root.id)] == ["A", "A2"]
    assert first.text == "r1:A"


def test_undo_moves_back_one_turn_and_the_next_request_leaves_it_out(make_chat: ChatMaker) -> None:
    chat, emu = _chat(make_chat)
    chat.send("A")
    chat.send("B")
    undone = chat.undo()
    assert undone is not None and [m.text for m in undone.messages] == ["B", "r2:B"]
    assert [m.text for m in chat.history] == ["A", "r1:A"]
    chat.send("C")
    assert _last_sent(emu) == [("user", "A"), ("assistant", "r1:A"), ("user", "C")]
    chat.undo()
    chat.undo()
    assert chat.history == []
    assert chat.undo() is None
    chat.send("D")
    assert _last_sent(emu) == [("user", "D")]
    # Everything is still stored: four branch tips.
    assert sorted(m.text for m in chat.branches()) == ["r2:B", "r3:C", "r4:D"]


def test_checkout_switches_branches_and_the_requests_follow(make_chat: ChatMaker) -> None:
    chat, emu = _chat(make_chat)
    chat.send("A")
    b = chat.send("B")
    chat.undo()
    c = chat.send("C")
    chat.checkout(b.id)
    assert [m.text for m in chat.history] == ["A", "r1:A", "B", "r2:B"]
    chat.send("D")
    assert _last_sent(emu) == [
        ("user", "A"),
        ("assistant", "r1:A"),
        ("user", "B"),
        ("assistant", "r2:B"),
        ("user", "D"),
    ]
    chat.checkout(c.id)
    chat.send("E")
    assert _last_sent(emu) == [
        ("user", "A"),
        ("assistant", "r1:A"),
        ("user", "C"),
        ("assistant", "r3:C"),
        ("user", "E"),
    ]
    with pytest.raises(KeyError):
        chat.checkout("no-such-message")


def test_fork_copies_the_branch_and_both_go_their_own_way(make_chat: ChatMaker) -> None:
    chat, emu = _chat(make_chat)
    chat.send("A")
    chat.send("B")
    fork = chat.fork()
    assert fork.id != chat.id
    assert [m.text for m in fork.history] == ["A", "r1:A", "B", "r2:B"]
    assert {m.id for m in fork.history}.isdisjoint({m.id for m in chat.history})
    fork.send("in the fork")
    assert _last_sent(emu)[-1] == ("user", "in the fork")
    assert len(_last_sent(emu)) == 5
    chat.send("in the original")
    assert _last_sent(emu) == [
        ("user", "A"),
        ("assistant", "r1:A"),
        ("user", "B"),
        ("assistant", "r2:B"),
        ("user", "in the original"),
    ]
    assert [m.text for m in fork.history][-2:] == ["in the fork", "r3:in the fork"]
    assert fork.conversation is not None
    assert fork.conversation.metadata["forked_from"] == chat.id


def test_a_fork_belongs_to_the_owner_of_the_original(make_chat: ChatMaker) -> None:
    store = MemoryStore()
    bob = store.add_user("bob")
    emu = Emulator(reply=Counter())
    theirs = store.create_conversation(owner=bob.id)
    chat = make_chat.resume(theirs.id, emu=emu, store=store)  # an admin's view: every owner
    chat.send("A")
    fork = chat.fork()
    assert fork.conversation is not None and fork.conversation.owner == bob.id
    scoped = make_chat(emu, store=ScopedStore(store, bob.id))  # the service's view
    scoped.send("B")
    assert scoped.fork().conversation.owner == bob.id
    assert {i.conversation.owner for i in store.list_conversations()} == {bob.id}


def test_branching_on_an_empty_chat_is_a_user_error(make_chat: ChatMaker) -> None:
    chat, _ = _chat(make_chat)
    for action in (chat.retry, chat.fork):
        with pytest.raises(UserError):
            action()
    assert chat.undo() is None
