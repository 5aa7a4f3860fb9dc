"""``AnthropicModel``: the Model protocol over the official SDK. The only SDK importer.

It takes a ready client (Bedrock, Vertex, a proxy, the emulator's transport) or builds one
that honours ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``. Streams are read with the
SDK (``with_streaming_response``) and folded into the SDK's own snapshot (_stream.py, with
the SDK's ``accumulate_event``); SDK exceptions become claudechat errors.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import anthropic

from ..attachments import FILES_BETA
from ..errors import (
    AuthError,
    BadResponse,
    ContextOverflow,
    ModelError,
    Overloaded,
    RateLimited,
    StreamInterrupted,
    UserError,
)
from ..usage import Usage
from ._stream import StreamFold
from .base import (
    Done,
    ModelResponse,
    Request,
    StreamEvent,
)

__all__ = [
    "AnthropicModel",
    "AsyncAnthropicModel",
    "make_client",
    "map_error",
    "pooled_copies",
    "request_field_names",
    "sdk_errors",
    "thinking_budget_deprecated",
]

_TOO_LONG = re.compile(r"prompt is too long:\s*(\d+)\s*tokens\s*>\s*(\d+)")


def request_field_names() -> frozenset[str]:
    """The request fields the SDK's ``MessageCreateParams`` names (checks on user options)."""
    from anthropic.types.message_create_params import MessageCreateParamsBase

    return frozenset(MessageCreateParamsBase.__annotations__)


_TEXT_FIELDS = {"citations", "text", "type"}
_plain_text_class: dict[type, bool] = {}


def _block_dict(block: Any) -> dict[str, Any]:
    """A content block as the API's JSON: what ``model_dump`` gives, made directly for a
    plain text block (no citations, no fields the SDK does not know), the usual one."""
    cls = type(block)
    plain = _plain_text_class.get(cls)
    if plain is None:
        plain = _plain_text_class[cls] = set(getattr(cls, "model_fields", ())) == _TEXT_FIELDS
    if (
        plain
        and block.type == "text"
        and block.citations is None
        and not block.__pydantic_extra__
        and type(block.text) is str
    ):
        return {"text": block.text, "type": "text"}  # model_dump's own key order
    data: dict[str, Any] = block.model_dump(mode="json", exclude_none=True)
    return data


def _cache_miss(diagnostics: Any) -> tuple[str | None, int | None]:
    """The cache-miss reason and missed-token estimate of a response's ``diagnostics``
    (None, None when the prefix was reused or the diagnosis is still pending)."""
    miss = diagnostics.get("cache_miss_reason") if isinstance(diagnostics, Mapping) else None
    if isinstance(miss, str):
        return miss, None
    if not isinstance(miss, Mapping) or not isinstance(miss.get("type"), str):
        return None, None
    missed = miss.get("cache_missed_input_tokens")
    return miss["type"], missed if isinstance(missed, int) else None


def to_response(message: Any) -> ModelResponse:
    """Map an SDK ``Message`` (or beta message, or a stream snapshot) to claudechat types."""
    raw: dict[str, Any] = message.model_dump(mode="json", exclude_none=True, exclude={"content"})
    usage = Usage.from_api(raw.get("usage") or {})
    miss, missed = _cache_miss(raw.get("diagnostics"))
    return ModelResponse(
        id=raw.get("id"),
        model=str(raw.get("model", "")),
        content=[_block_dict(b) for b in message.content],
        stop_reason=raw.get("stop_reason"),
        stop_sequence=raw.get("stop_sequence"),
        usage=usage,
        cache_miss_reason=miss,
        cache_missed_tokens=missed,
        context_management=raw.get("context_management"),
        raw=raw,
    )


def make_client(
    *,
    api_key: str | None = None,
    auth_token: str | None = None,
    base_url: str | None = None,
    http_client: Any = None,
    asynchronous: bool = False,
    max_retries: int = 2,
    timeout: float | None = None,
) -> Any:
    """An SDK client (``anthropic.Anthropic`` or ``AsyncAnthropic``) for callers that must
    not import the SDK themselves (the CLI). AuthError when no key, token or credentials are
    found (arguments, then the environment): never a silent fallback to simulated replies."""
    cls: Any = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    kw: dict[str, Any] = {"max_retries": max_retries}
    for name, value in (
        ("api_key", api_key),
        ("auth_token", auth_token),
        ("base_url", base_url),
        ("http_client", http_client),
        ("timeout", timeout),
    ):
        if value is not None:
            kw[name] = value
    try:
        client = cls(**kw)
    except anthropic.AnthropicError as err:
        raise AuthError(f"cannot build the Anthropic client: {err}") from err
    if client.api_key is None and client.auth_token is None and client.credentials is None:
        offline = "offline_client(asynchronous=True)" if asynchronous else "offline_client()"
        raise AuthError(
            "no Anthropic API key: set ANTHROPIC_API_KEY (or pass api_key= or client=); to "
            f"run offline on the built-in emulator, pass client=claudechat.testing.{offline}"
        )
    return client


def pooled_copies(client: Any, count: int) -> list[Any]:
    """``count`` copies of an async SDK client, each with a connection pool of its own, the
    same key, base URL, retries and timeout. A pool looks at each of its idle connections
    whenever a request starts or ends (is it expired, did the server close it?), so one pool
    holding a connection per user of a busy service makes every request pay for all of
    them; a conversation kept on one copy keeps its keep-alive connections.

    Their HTTP is the SDK's aiohttp client (``anthropic.DefaultAioHttpClient``, the SDK's
    ``aiohttp`` extra): a streamed reply's events are read by aiohttp's C parser, where the
    SDK's default client reads each one through five layers of async generators (httpx,
    httpcore, anyio), with a timeout scope around each read: about a fifth of a service's
    CPU at 100 users. With uvicorn on uvloop and httptools, a streamed turn costs the
    service a quarter less CPU (bench/serve.py, README). Close them with
    ``await copy.close()`` in the loop that used them."""
    return [client.with_options(http_client=anthropic.DefaultAioHttpClient())
            for _ in range(count)]  # fmt: skip


def _check_client(client: Any, *, asynchronous: bool) -> None:
    """UserError for a sync client given where an async one is needed, or the reverse,
    before any request is sent (its reply could not be awaited, or would be a coroutine)."""
    create = getattr(getattr(client, "messages", None), "create", None)
    if create is None or inspect.iscoroutinefunction(inspect.unwrap(create)) == asynchronous:
        return
    if asynchronous:
        raise UserError(
            "AsyncChat needs an async client (anthropic.AsyncAnthropic, or "
            "claudechat.testing.offline_client(asynchronous=True)); use Chat for this one"
        )
    raise UserError(
        "Chat needs a sync client (anthropic.Anthropic, or claudechat.testing.offline_client()); "
        "use AsyncChat for an async one"
    )


def _retry_after(err: anthropic.APIStatusError) -> float | None:
    headers = err.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) / scale
            except ValueError:
                return None
    return None


def map_error(err: Exception) -> Exception:
    """The claudechat error for an SDK exception (returned, for ``raise … from err``)."""
    if isinstance(err, anthropic.APIStatusError):
        message = err.api_message or str(err)
        kw: dict[str, Any] = {
            "status": err.status_code,
            "request_id": err.request_id,
            "error_type": err.type,
            "error_code": err.error_code,
        }
        if err.status_code in (401, 403) or err.type in (
            "authentication_error",
            "permission_error",
        ):
            return AuthError(message, **kw)
        if err.status_code == 429 or err.type == "rate_limit_error":
            return RateLimited(message, retry_after=_retry_after(err), **kw)
        if err.status_code == 529 or err.type == "overloaded_error":
            return Overloaded(message, **kw)
        match = _TOO_LONG.search(message)
        if match or (err.status_code == 413):
            tokens, limit = (int(match.group(1)), int(match.group(2))) if match else (None, None)
            return ContextOverflow(message, tokens=tokens, limit=limit, **kw)
        return ModelError(message, **kw)
    if isinstance(err, anthropic.APIResponseValidationError):
        return BadResponse(f"the server's answer is not a Messages API response: {err}")
    if isinstance(err, anthropic.APIConnectionError):
        cause = err.__cause__ or err
        return ModelError(f"connection failed: {cause}")
    if isinstance(err, anthropic.AnthropicError):
        return ModelError(str(err))
    return err


def _endpoint(
    client: Any, request: Request, *, for_count: bool = False
) -> tuple[Any, dict[str, Any]]:
    """The SDK's messages API for a request (the beta one when it needs betas or context
    management) and the keyword arguments to call it with."""
    body = request.to_api(for_count=for_count)
    beta = bool(request.betas) or "context_management" in body
    if beta:
        body["betas"] = list(request.betas)
    # Fields the SDK's typed signature lacks (it raises TypeError) go in the JSON body as-is;
    # the count_tokens endpoint takes none of them.
    moved: tuple[str, ...] = ("diagnostics", "temperature", "top_p", "top_k")
    extra = {k: body.pop(k) for k in moved if k in body}
    if not for_count and _sdk_warns_on_thinking(body):  # the chat warns once, in its own words
        extra["thinking"] = body.pop("thinking")
    if extra and not for_count:
        body["extra_body"] = extra
    return (client.beta.messages if beta else client.messages), body


def thinking_budget_deprecated(model: str) -> bool:
    """Whether the SDK deprecates thinking with a budget on ``model`` (its own list)."""
    try:
        from anthropic._data import MODELS_TO_WARN_WITH_THINKING_ENABLED as listed
    except ImportError:  # an SDK from before the list
        return False
    return model in listed


def _sdk_warns_on_thinking(body: Mapping[str, Any]) -> bool:
    thinking = body.get("thinking")
    return (
        isinstance(thinking, Mapping)
        and thinking.get("type") == "enabled"
        and thinking_budget_deprecated(str(body.get("model")))
    )


@functools.cache
def _snapshot_classes() -> tuple[Any, ...]:
    """The SDK's ``accumulate_event`` subscripts ``ParsedBetaMessage[ResponseFormatT]`` (or
    ``ParsedMessage[...]``) at every reply's ``message_start``. Pydantic keeps such a
    parametrized class only while something references it, so after any garbage collection
    the next reply built the class again: about 1 ms of CPU before each turn's first token.
    Held here for the life of the process, pydantic's cache answers at once."""
    from anthropic.lib._parse import _response  # the TypeVar the SDK subscripts with
    from anthropic.types.beta.parsed_beta_message import ParsedBetaMessage
    from anthropic.types.parsed_message import ParsedMessage

    shape: Any = _response.ResponseFormatT  # a value here, not a type to check
    return (ParsedBetaMessage[shape], ParsedMessage[shape])


def _fold(client: Any, api: Any, response: Any) -> StreamFold:
    """The fold of one reply stream: the SDK's ``accumulate_event`` (the beta one for the
    beta messages resource) and the SDK's exception for an ``error`` event."""
    from anthropic.lib.streaming import _beta_messages, _messages

    _snapshot_classes()

    def make_error(message: str, body: Any) -> Exception:
        error: Exception = client._make_status_error(message, body=body, response=response)
        return error

    if "beta" in type(api).__module__:
        headers = response.request.headers

        def beta(event: dict[str, Any], snapshot: Any, bufs: dict[int, bytes]) -> Any:
            return _beta_messages.accumulate_event(event=event, current_snapshot=snapshot,  # type: ignore[arg-type]
                                                   json_bufs=bufs, request_headers=headers)  # fmt: skip

        return StreamFold(beta, make_error)

    def plain(event: dict[str, Any], snapshot: Any, bufs: dict[int, bytes]) -> Any:
        return _messages.accumulate_event(event=event, current_snapshot=snapshot,  # type: ignore[arg-type]
                                          json_bufs=bufs)  # fmt: skip

    return StreamFold(plain, make_error)


@contextlib.contextmanager
def sdk_errors() -> Iterator[None]:
    """Re-raise SDK exceptions, and answers the SDK could not parse, as claudechat errors
    (``raise … from``). A sync context manager: it also wraps awaits."""
    try:
        yield
    except anthropic.AnthropicError as err:
        raise map_error(err) from err
    except (ValueError, TypeError, KeyError) as err:
        # The SDK accepted the HTTP answer but could not parse it: a server speaking
        # something else. Other ValueErrors (our own misuse) are not from those modules.
        if not _from_parser(err):
            raise
        raise BadResponse(f"unreadable answer from the server: {err}") from err


@contextlib.contextmanager
def _reading(fold: StreamFold) -> Iterator[None]:
    """Errors while an open stream is read: StreamInterrupted with the partial reply."""
    try:
        yield
    except BadResponse:
        raise
    except Exception as err:
        partial = to_response(fold.snapshot) if fold.snapshot is not None else None
        raise _stream_error(err, partial) from err


def _from_parser(err: BaseException) -> bool:
    tb = err.__traceback__
    while tb is not None:
        mod = tb.tb_frame.f_globals.get("__name__", "")
        if mod.startswith(("json", "pydantic", "httpx2", "jiter", "anthropic._response")):
            return True
        tb = tb.tb_next
    return False


def _interrupted(err: Exception, partial: ModelResponse | None) -> StreamInterrupted:
    mapped = map_error(err)
    status = getattr(mapped, "status", None)
    request_id = getattr(mapped, "request_id", None)
    error_type = getattr(mapped, "error_type", None)
    reason = mapped.args[0] if mapped.args else type(mapped).__name__
    return StreamInterrupted(
        f"the reply stream was cut: {reason}",
        partial=partial,
        status=status,
        request_id=request_id,
        error_type=error_type,
    )


def _stream_error(err: Exception, partial: ModelResponse | None) -> ModelError:
    """BadResponse when no message ever started and the events could not be read (the
    server does not speak the Messages API); otherwise StreamInterrupted."""
    if partial is None and isinstance(err, AssertionError | ValueError | TypeError | KeyError):
        detail = f": {err}" if str(err) else ""
        return BadResponse(f"the server's answer is not a Messages API event stream{detail}")
    return _interrupted(err, partial)


_Client = TypeVar("_Client", anthropic.Anthropic, anthropic.AsyncAnthropic)


class _AnthropicClientModel(Generic[_Client]):
    """What the sync and async models share: the name and a client of the right kind."""

    asynchronous: ClassVar[bool]

    def __init__(self, name: str, *, client: _Client | None = None, api_key: str | None = None,
                 base_url: str | None = None, max_retries: int = 2,
                 timeout: float | None = None) -> None:  # fmt: skip
        self.name = name
        if client is None:
            client = make_client(api_key=api_key, base_url=base_url, timeout=timeout,
                                 max_retries=max_retries, asynchronous=self.asynchronous)  # fmt: skip
        _check_client(client, asynchronous=self.asynchronous)
        self.client: _Client = client


class AnthropicModel(_AnthropicClientModel[anthropic.Anthropic]):
    """A Claude model through ``anthropic.Anthropic``."""

    asynchronous = False

    def create(self, request: Request) -> ModelResponse:
        """Send the request without streaming."""
        api, body = _endpoint(self.client, request)
        with sdk_errors():
            return to_response(api.create(**body))

    def stream(self, request: Request) -> Iterator[StreamEvent]:
        """Stream the reply: TextDelta / ThinkingDelta / UsageSoFar events, then Done."""
        api, body = _endpoint(self.client, request)
        with sdk_errors():
            manager = api.with_streaming_response.create(**body, stream=True)
            response = manager.__enter__().http_response
        fold = _fold(self.client, api, response)
        with _reading(fold):
            try:
                for chunk in response.iter_bytes():
                    yield from fold.chunk(chunk)
                if (event := fold.end()) is not None:
                    yield event
                final = fold.final()
            finally:
                manager.__exit__(None, None, None)
        yield Done(to_response(final))

    def count_tokens(self, request: Request) -> int:
        """Exact input tokens from the count_tokens endpoint."""
        api, body = _endpoint(self.client, request, for_count=True)
        with sdk_errors():
            return int(api.count_tokens(**body).input_tokens)

    def upload_file(self, name: str, data: bytes, media_type: str) -> str:
        """Upload an attachment through the Files API (beta); its file id."""
        with sdk_errors():
            meta = self.client.beta.files.upload(file=(name, data, media_type), betas=[FILES_BETA])
        return str(meta.id)


class AsyncAnthropicModel(_AnthropicClientModel[anthropic.AsyncAnthropic]):
    """A Claude model through ``anthropic.AsyncAnthropic``."""

    asynchronous = True

    async def create(self, request: Request) -> ModelResponse:
        """Send the request without streaming."""
        api, body = _endpoint(self.client, request)
        with sdk_errors():
            return to_response(await api.create(**body))

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        """Stream the reply: TextDelta / ThinkingDelta / UsageSoFar events, then Done."""
        api, body = _endpoint(self.client, request)
        with sdk_errors():
            manager = api.with_streaming_response.create(**body, stream=True)
            response = (await manager.__aenter__()).http_response
        fold = _fold(self.client, api, response)
        with _reading(fold):
            try:
                async for chunk in response.aiter_bytes():
                    for shown in fold.chunk(chunk):
                        yield shown
                if (event := fold.end()) is not None:
                    yield event
                final = fold.final()
            finally:
                await manager.__aexit__(None, None, None)
        yield Done(to_response(final))

    async def count_tokens(self, request: Request) -> int:
        """Exact input tokens from the count_tokens endpoint."""
        api, body = _endpoint(self.client, request, for_count=True)
        with sdk_errors():
            return int((await api.count_tokens(**body)).input_tokens)

    async def upload_file(self, name: str, data: bytes, media_type: str) -> str:
        """Upload an attachment through the Files API (beta); its file id."""
        with sdk_errors():
            meta = await self.client.beta.files.upload(
                file=(name, data, media_type), betas=[FILES_BETA]
            )
        return str(meta.id)
