"""The service's operations joined to its turns: spend limits, metrics, the request log.

`install_operations` is called once by `create_app`: it puts the request log (with the
request metrics) around the app, serves ``GET /metrics``, and watches every turn's end to
settle its spend and count its tokens. The turn routes call `Operations.admit` before a turn
stores or sends anything (402 / 429 when a limit says no) and `Operations.started` once it
runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Response

from ..errors import SpendLimitExceeded, TooManyStreams
from ..estimates import estimate_text
from ..models.capabilities import model_info
from .errors import ApiError
from .limits import Admission, SpendGuard, upper_bound_usd
from .metrics import ServiceMetrics
from .request_log import RequestLog

if TYPE_CHECKING:
    from ..chat import AsyncChat
    from .runs import Run
    from .state import ServerState

__all__ = ["Operations", "install_operations", "operations_of"]

log = logging.getLogger("claudechat.server")

_KEY = "operations"
_PROMPT_MARGIN = 1.1  # the estimate is offline; the bound must not fall short of the bill


class Operations:
    """The app's spend guard and metrics, and the admissions of its running turns."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.metrics = ServiceMetrics()
        self.guard = SpendGuard(state.store, clock=state.settings.clock)
        self._admissions: dict[str, Admission] = {}  # turn id → its reservation

    def admit(self, user_id: str, chat: AsyncChat, content: Any = None) -> Admission:
        """Reserve the most the turn can cost, or refuse it: 402 ``spend_limit`` over the
        day's or month's limit, 429 ``rate_limited`` at the concurrent-streams limit."""
        assert chat.id is not None
        user = self.state.store.get_user(user_id)
        upper = upper_bound_usd(chat.model.name, self.prompt_tokens(chat, content),
                                chat.max_tokens, self.state.settings.budget)  # fmt: skip
        try:
            return self.guard.admit(user, conversation_id=chat.id, upper_usd=upper)
        except SpendLimitExceeded as err:
            raise ApiError(402, str(err), type="spend_limit") from err
        except TooManyStreams as err:
            raise ApiError(429, str(err), type="rate_limited") from err

    @staticmethod
    def prompt_tokens(chat: AsyncChat, content: Any) -> int:
        """An offline estimate of the turn's prompt: system, history and the new content."""
        family = model_info(chat.model.name, warn=False).tokenizer
        texts = [chat.system, *(m.text for m in chat.history), _text(content)]
        return int(_PROMPT_MARGIN * sum(estimate_text(t, family) for t in texts if t)) + 16

    def started(self, run: Run, admission: Admission) -> None:
        """The turn runs: keep its reservation until it ends; one more open stream."""
        self._admissions[run.turn_id] = admission
        self.metrics.stream_opened()

    def finished(self, run: Run, chat: AsyncChat) -> None:
        """The turn ended (RunRegistry.on_finish): settle what it billed (its summaries,
        counts and recall included), count its tokens, cost and outcome."""
        admission = self._admissions.pop(run.turn_id, None)
        if admission is None:
            return
        self.metrics.stream_closed()
        usage, cost = chat.ledger.turn_usage, chat.ledger.turn_cost_usd
        admission.settle(cost)
        result = run.result
        outcome = result.outcome if result is not None else "error"
        self.metrics.observe_turn(usage, cost, outcome)  # type: ignore[arg-type]
        if result is not None and result.error is not None and result.error.status == 502:
            self.metrics.upstream_error(_upstream_type(result.error.message))


def _text(content: Any) -> str:
    """The text of a message's content (a string or content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


def _upstream_type(message: str) -> str:
    """The upstream error's type from the 502's message ("the model API failed: <type>
    (status N)"), which names it and nothing secret."""
    _, _, rest = message.partition("failed: ")
    return rest.split(" (")[0].strip() or "unknown"


def operations_of(state: ServerState) -> Operations:
    """The app's Operations (made by install_operations)."""
    ops: Operations = state.extras[_KEY]
    return ops


def install_operations(app: FastAPI, state: ServerState) -> Operations:
    """Put the request log and metrics around ``app``, serve ``GET /metrics``, and settle
    every turn's spend when it ends. Call it after the app's other middleware, so that the
    log sees every answer (a 413 of the body limit included)."""
    ops = Operations(state)
    state.extras[_KEY] = ops
    state.runs.on_finish.append(ops.finished)

    async def metrics() -> Response:
        """Prometheus text format; no authentication (keep it off the public address)."""
        body, content_type = ops.metrics.render()
        return Response(body, media_type=content_type)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestLog, metrics=ops.metrics)
    return ops
