"""Build what a command needs from the resolved configuration: client, store, Chat.

With neither ``ANTHROPIC_API_KEY`` nor ``ANTHROPIC_BASE_URL`` set, the client runs on the
built-in emulator and says so once. Heavy modules (the SDK, store backends) load here,
inside the commands that need them, so ``claudechat --help`` stays fast.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

from ..config import Settings, resolve
from .busy import retrying
from .model_options import ModelOptions

if TYPE_CHECKING:
    from ..chat import Chat
    from ..context.engine import ContextEngine
    from ..search import SearchIndex
    from ..store.base import Conversation, Store

__all__ = ["EMULATOR_NOTICE", "BackgroundChat", "Runtime", "retrying"]

EMULATOR_NOTICE = (
    "No ANTHROPIC_API_KEY set: running on the built-in emulator (replies are simulated)."
)
CONNECT_SECONDS = 5  # an unreachable PostgreSQL fails after this, not after the pool's 30 s


class Runtime:
    """Settings plus the environment, turned into a client, a store and chats (lazily).

    ``client`` and ``store`` may be given ready-made (tests, embedding applications)."""

    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        notice: Callable[[str], None] | None = None,
        client: Any = None,
        store: Store | None = None,
    ) -> None:
        self.configured = settings  # flags > environment > file > defaults
        self.settings = settings  # those, with the open conversation's own settings applied
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.notice = notice or (lambda text: click.echo(text, err=True))
        self._client: Any = client
        self._store: Store | None = store
        self._announced = False
        self._api_key: str | None = None  # not looked up yet
        self.assume_yes = False  # --yes: send large or costly prompts without asking
        self.model_options = ModelOptions()  # --temperature, --top-p, --stop, -o
        self.tools: list[Callable[..., Any]] = []  # --functions FILE.py
        self._indexes: list[SearchIndex] = []

    @classmethod
    def from_flags(
        cls, flags: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None
    ) -> Runtime:
        """Resolve flags > environment > file > defaults, once."""
        env = os.environ if env is None else env
        return cls(resolve(flags, env=env), env=env)

    # the model client --------------------------------------------------------------------

    @property
    def api_key(self) -> str | None:
        """ANTHROPIC_API_KEY, else the key ``claudechat keys set`` kept (read once)."""
        if self._api_key is None:
            from .api_key import env_key, read_key

            self._api_key = env_key(self.env) or read_key(self.env) or ""
        return self._api_key or None

    @property
    def offline(self) -> bool:
        """True when no key and no base URL are set: the built-in emulator answers."""
        return not (self.env.get("ANTHROPIC_BASE_URL") or self.api_key)

    def announce(self) -> None:
        """Say once, before anything else, when the built-in emulator will answer."""
        if self.offline and self._client is None and not self._announced:
            self._announced = True
            self.notice(EMULATOR_NOTICE)

    def client(self) -> Any:
        """The SDK client: the real API, a base URL, or the built-in emulator."""
        if self._client is None:
            from ..models.anthropic import make_client

            if self.offline:
                from ..testing import Emulator

                self.announce()
                self._client = make_client(api_key="emulator", http_client=Emulator().http_client())
            else:
                key = self.api_key
                token = self.env.get("ANTHROPIC_AUTH_TOKEN") or None
                if key is None and token is None:
                    key = "not-set"  # a local server (Ollama, llama.cpp…) ignores it
                self._client = make_client(
                    api_key=key,
                    auth_token=token,
                    base_url=self.env.get("ANTHROPIC_BASE_URL") or None,
                )
        return self._client

    # the store ---------------------------------------------------------------------------

    def store(self) -> Store:
        """The configured store: --store URL, else the SQLite file (--db or the default)."""
        if self._store is None:
            self._store = open_configured_store(self.settings, self.env)
        return self._store

    @property
    def postgres(self) -> str | None:
        """The PostgreSQL conninfo when the store is PostgreSQL (the search index uses it)."""
        spec = self.settings.store or ""
        return spec if spec.startswith(("postgres://", "postgresql://")) else None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the store, search indexes and client that were opened."""
        for index in self._indexes:
            index.close()
        self._indexes.clear()
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._client is not None:
            self._client.close()
            self._client = None

    # chats -------------------------------------------------------------------------------

    def engine(self) -> ContextEngine:
        """A context engine for the configured strategy, budget and cache TTL."""
        from ..context import ContextEngine, PromptCaching, strategy_policies

        s = self.settings
        ttl: Any = s.cache_ttl
        policies: list[Any] = list(strategy_policies(s.strategy))
        if s.recall:  # the window leaves recall its measured share (bench/memory.py)
            from ..context.recall import remember_policies
            from .recall import recall_index

            index = recall_index(self.store(), postgres=self.postgres, embedder=s.embedder)
            self._indexes.append(index)
            policies = remember_policies(s.strategy, index, budget=s.budget)
        return ContextEngine(
            policies,
            budget=s.budget,
            caching=PromptCaching(ttl=ttl, system_ttl=ttl),
            summary_model=s.summary_model or "claude-haiku-4-5",
        )

    def new_chat(self) -> Chat:
        """A new conversation with the configured model and system prompt."""
        from ..chat import Chat

        s = self.settings = self.configured
        return Chat(
            s.model,
            system=s.system or None,
            max_tokens=s.max_tokens,
            store=self.store(),
            context=self.engine(),
            client=self.client(),
            tools=self.tools,
            threads=s.threads,
            thinking=s.thinking,
            memory=s.memory,
            **self.model_options.chat_kwargs(),
        )

    def resume(self, conversation_id: str) -> Chat:
        """A stored conversation, with its own model unless one was asked for explicitly."""
        from ..chat import Chat

        s = self.settings = self.for_conversation(self.store().get_conversation(conversation_id))
        explicit_model = s.sources.get("model") in ("flag", "env")
        chat = Chat.resume(
            conversation_id,
            store=self.store(),
            model=s.model if explicit_model else None,
            max_tokens=s.max_tokens,
            context=self.engine(),
            client=self.client(),
            tools=self.tools,
            threads=s.threads,
            thinking=s.thinking,
            memory=s.memory,
            **self.model_options.chat_kwargs(),
        )
        if s.sources.get("system") in ("flag", "env") and s.system != chat.system:
            chat.system = s.system
        return chat

    def for_conversation(self, conversation: Conversation) -> Settings:
        """The configured settings with the conversation's own strategy, budget and recall
        (set in the web chat or with ``PATCH``) in place of those of the configuration file
        and the defaults; a flag or an environment variable of this command still wins."""
        from dataclasses import replace

        from ..chat_settings import ChatSettings

        own, s = ChatSettings.of(conversation), self.configured
        stored = {"strategy": own.strategy, "budget": own.budget, "recall": own.recall}
        taken: dict[str, Any] = {
            key: value
            for key, value in stored.items()
            if value is not None and s.sources.get(key) not in ("flag", "env")
        }
        if not taken:
            return s
        sources = {**s.sources, **dict.fromkeys(taken, "conversation")}
        return replace(s, **taken, sources=sources)

    def open_chat(self, *, cid: str | None = None, continue_latest: bool = False) -> Chat:
        """``--cid ID`` (anyone's: the terminal is the store's admin), ``-c`` (the local user's
        latest conversation, or a new one), or a new chat."""
        return self.plan_chat(cid=cid, continue_latest=continue_latest)[1]()

    def plan_chat(
        self, *, cid: str | None = None, continue_latest: bool = False
    ) -> tuple[Conversation | None, Callable[[], Chat]]:
        """Which conversation to open (decided now, cheaply) and how to build its Chat
        (slow the first time: it loads the SDK), so the REPL can show its prompt first."""
        from ..store.base import LOCAL_USER

        conversation: Conversation | None = None
        if cid:
            conversation = self.store().get_conversation(resolve_id(self.store(), cid))
        elif continue_latest:
            conversation = self.store().latest_conversation(owner=LOCAL_USER)
        if conversation is None:
            return None, self.new_chat
        found = conversation.id
        return conversation, lambda: self.resume(found)


def resolve_id(store: Store, given: str) -> str:
    """A full conversation id from the id, or from a unique start or end of one (ids
    begin with their creation time, so the end tells recent ones apart)."""
    from ..errors import ConversationNotFound, UserError

    given = given.strip()
    try:
        return store.get_conversation(given).id
    except ConversationNotFound:
        pass
    if len(given) >= 6:
        matches = [
            info.conversation.id
            for info in store.iter_conversations()
            if info.conversation.id.startswith(given) or info.conversation.id.endswith(given)
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UserError(
                f"{given!r} matches {len(matches)} conversations: give more of the id, or "
                "its last 6 characters or more (ids start with the time, so recent ones "
                "share a start but not an end)"
            )
    raise ConversationNotFound(f"no conversation {given!r} (see claudechat list)")


def open_configured_store(settings: Settings, env: Mapping[str, str]) -> Store:
    """Open the store that ``--store`` / ``--db`` (or their environment twins) name."""
    from ..store import open_store

    spec = settings.store or settings.db or None
    if spec == "memory":
        spec = ":memory:"
    if spec and spec.strip().startswith(("postgres://", "postgresql://")):
        reach_postgres(spec.strip())
    return open_store(spec, env=env)


def reach_postgres(conninfo: str, *, seconds: int = CONNECT_SECONDS) -> None:
    """Fail fast, in one line, when PostgreSQL cannot be reached (the pool would retry
    for half a minute and log every attempt)."""
    import logging

    from ..config import redact
    from ..errors import StoreError

    try:
        import psycopg
    except ImportError:
        return  # open_store says how to install it
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # errors are reported here
    try:
        psycopg.connect(conninfo, connect_timeout=seconds).close()
    except psycopg.Error as err:
        reason = " ".join(str(err).split())
        raise StoreError(f"cannot connect to PostgreSQL at {redact(conninfo)}: {reason}") from None


class BackgroundChat:
    """Build a Chat in a daemon thread (importing the SDK takes most of a second), and
    warm the offline tokenizer; ``result`` starts it if needed, waits, re-raises a failure."""

    def __init__(self, build: Callable[[], Chat]) -> None:
        self._build = build
        self._chat: Chat | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="claudechat-build", daemon=True)

    def start(self) -> None:
        """Start the build (once)."""
        if self._thread.ident is None:
            self._thread.start()

    def _run(self) -> None:
        try:
            chat = self._build()
            from ..tokens import estimate_text

            estimate_text("warm up", chat.info.tokenizer)
            self._chat = chat
        except BaseException as err:  # handed to the main thread by result()
            self._error = err

    def result(self) -> Chat:
        """The built Chat (or the exception building it raised)."""
        self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._chat is not None
        return self._chat
