"""Chats on the real SDK over the emulator, and what they sent, for the conversation tests.

A conversation test is written once against Chat's synchronous API and runs against both
``Chat`` and ``AsyncChat``: ``ChatMaker`` builds either from the same arguments, and
``BlockingAsyncChat`` presents an AsyncChat through Chat's API, each call run to its end on
one event loop. The fixtures in ``conftest.py`` hand these to the tests; this module holds
the parts that need no fixture (models, clients, request checks) for modules that cannot
take fixtures, such as the journey machine.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Literal, TypeVar

import anthropic

from claudechat import AsyncChat, Chat, validate
from claudechat.models import known_models, model_info
from claudechat.models.anthropic import AnthropicModel, AsyncAnthropicModel
from claudechat.store.memory import MemoryStore
from claudechat.testing import Emulator, RecordedRequest

SONNET = "claude-sonnet-4-6"  # refuses prefill
HAIKU = "claude-haiku-4-5"  # accepts prefill
# Models are picked by what they can do, never by a name that will retire: the models that
# accept prefill and have no retirement date.
PREFILL_MODELS = [
    name for name in known_models() if model_info(name).prefill and model_info(name).retires is None
]

ChatKind = Literal["sync", "async"]
CHAT_KINDS: tuple[ChatKind, ...] = ("sync", "async")

_WORDS = ["amber", "river", "stone", "cloud", "quartz", "maple", "signal", "harbor", "copper"]
T = TypeVar("T")


# --- clients and chats --------------------------------------------------------------------


def sdk_client(emu: Emulator, *, asynchronous: bool = False, **kw: Any) -> Any:
    """A real SDK client (``Anthropic`` or ``AsyncAnthropic``) whose HTTP goes to the
    emulator, with no retries, so that faults surface (``kw`` to the SDK; ``api_key=None``
    takes the key from the environment)."""
    kw = {"api_key": "t", "max_retries": 0, **kw}
    if asynchronous:
        return anthropic.AsyncAnthropic(http_client=emu.async_http_client(), **kw)
    return anthropic.Anthropic(http_client=emu.http_client(), **kw)


def coroutine_tool(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``fn`` as a coroutine function of the same name, docstring and signature: the same
    tool, awaited by AsyncChat."""

    @functools.wraps(fn)
    async def tool(*args: Any, **kw: Any) -> T:
        await asyncio.sleep(0)  # gives the loop a turn, as a tool doing I/O would
        return fn(*args, **kw)

    return tool


class EventLoop:
    """The one event loop that every call of a test's adapted chats runs on (their SDK
    clients are bound to it)."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self.closed = False

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` to its end."""

        async def until_done() -> T:
            return await awaitable

        return self._runner.run(until_done())

    def close(self) -> None:
        """Close the loop; async generators still open are closed first."""
        self.closed = True
        self._runner.close()


class BlockingAsyncChat:
    """An AsyncChat behind Chat's synchronous API.

    Coroutine methods run to their end on ``loop``; an async iterator comes back as a
    generator that takes one step per ``next()`` and closes the async one when it is closed
    or left early (so the partial reply is kept, as with Chat); an AsyncChat that comes back
    (``fork()``) comes back adapted. Attribute reads and writes go to the AsyncChat.
    """

    def __init__(self, chat: AsyncChat, loop: EventLoop) -> None:
        object.__setattr__(self, "wrapped", chat)
        object.__setattr__(self, "_loop", loop)

    wrapped: AsyncChat

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.wrapped, name)
        if not inspect.ismethod(value):
            return value

        def blocking(*args: Any, **kw: Any) -> Any:
            return self._blocking(value(*args, **kw))

        return blocking

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.wrapped, name, value)

    def __repr__(self) -> str:
        return f"BlockingAsyncChat({self.wrapped!r})"

    def _blocking(self, result: Any) -> Any:
        if inspect.isawaitable(result):
            result = self._loop.run(result)
        if isinstance(result, AsyncIterator):
            return self._steps(result)
        if isinstance(result, AsyncChat):
            return BlockingAsyncChat(result, self._loop)
        return result

    def _steps(self, stream: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    piece = self._loop.run(anext(stream))
                except StopAsyncIteration:
                    return
                yield piece
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None and not self._loop.closed:  # else closed with the loop
                self._loop.run(aclose())


class ChatMaker:
    """Builds a Chat, or an AsyncChat behind Chat's API, from the same arguments:
    ``make_chat(emu, model, **kw)`` and ``make_chat.resume(conversation_id, emu=emu, ...)``
    over the emulator, or with ``client=`` an SDK client of the kind (``make_chat.client``)."""

    def __init__(self, kind: ChatKind) -> None:
        self.kind = kind
        self._loop: EventLoop | None = None

    @property
    def asynchronous(self) -> bool:
        """Whether the chats made are AsyncChats."""
        return self.kind == "async"

    def client(self, emu: Emulator, **kw: Any) -> Any:
        """An SDK client of the kind these chats take, over ``emu`` (``kw`` to the SDK)."""
        return sdk_client(emu, asynchronous=self.asynchronous, **kw)

    def tools(self, *fns: Callable[..., Any]) -> list[Callable[..., Any]]:
        """The tools as given for Chat; as coroutine functions for AsyncChat."""
        return [coroutine_tool(fn) for fn in fns] if self.asynchronous else list(fns)

    def model(self, emu: Emulator, name: str) -> Any:
        """An ``AnthropicModel`` (or ``AsyncAnthropicModel``) over ``emu``, for ``set_model``."""
        cls = AsyncAnthropicModel if self.asynchronous else AnthropicModel
        return cls(name, client=self.client(emu))

    def __call__(
        self, emu: Emulator | None = None, model: Any = SONNET, *, client: Any = None, **kw: Any
    ) -> Any:
        """A new chat over ``emu`` (or ``client``), in memory unless ``store`` is given."""
        kw.setdefault("store", MemoryStore())
        if client is None and emu is not None:
            client = self.client(emu)
        if not self.asynchronous:
            return Chat(model, client=client, **kw)
        return self._adapted(AsyncChat(model, client=client, **kw))

    def resume(
        self, conversation_id: str, *, emu: Emulator | None = None, client: Any = None, **kw: Any
    ) -> Any:
        """A stored conversation continued over ``emu`` (or ``client``)."""
        if client is None and emu is not None:
            client = self.client(emu)
        if not self.asynchronous:
            return Chat.resume(conversation_id, client=client, **kw)
        return self._adapted(AsyncChat.resume(conversation_id, client=client, **kw))

    def _adapted(self, chat: AsyncChat) -> BlockingAsyncChat:
        if self._loop is None:
            self._loop = EventLoop()
        return BlockingAsyncChat(chat, self._loop)

    def close(self) -> None:
        """Close the event loop of the async chats made, if any."""
        if self._loop is not None:
            self._loop.close()


# --- what was sent ------------------------------------------------------------------------


def message_requests(emu: Emulator) -> list[RecordedRequest]:
    """The /v1/messages requests the emulator received (count_tokens left out)."""
    return [r for r in emu.requests if r.path == "/v1/messages"]


def text_of_message(message: dict[str, Any]) -> str:
    """The text blocks of an API message, joined (tool and thinking blocks left out)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def sent_roles_and_texts(request: RecordedRequest) -> list[tuple[str, str]]:
    """(role, text) of every message of a recorded request."""
    return [(m["role"], text_of_message(m)) for m in request.body["messages"]]


def assert_valid_request(
    request: RecordedRequest, *, prefill_allowed: bool = False, body: Any = None
) -> None:
    """What the API checks: a valid history, ending with the user unless prefill is allowed."""
    messages = (body or request.body)["messages"]
    if prefill_allowed and messages[-1]["role"] == "assistant":
        validate(messages[:-1])
    else:
        validate(messages)
        assert messages[-1]["role"] == "user", "a request must end with a user message"


def words(n: int, seed: int) -> str:
    """``n`` varied words (repeated words would count as too few tokens)."""
    rnd = random.Random(seed)
    return " ".join(f"{rnd.choice(_WORDS)}{rnd.randint(0, 99)}" for _ in range(n))


class ThreadSeen:
    """A context policy that notes the thread each request is built in."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def apply(self, candidate: Any, state: Any) -> Any:
        self.threads.append(threading.get_ident())
        return candidate
