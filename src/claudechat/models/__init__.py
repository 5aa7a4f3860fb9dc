"""Models: the ``Model`` protocol, the Anthropic implementation, capabilities."""

from .base import (
    AsyncModel,
    Done,
    Model,
    ModelResponse,
    Request,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    UsageSoFar,
)
from .capabilities import (
    DeprecatedModelWarning,
    ModelInfo,
    Prices,
    UnknownModelWarning,
    known_models,
    model_info,
    model_prices,
)

__all__ = [
    "AsyncModel",
    "DeprecatedModelWarning",
    "Done",
    "Model",
    "ModelInfo",
    "ModelResponse",
    "Prices",
    "Request",
    "StreamEvent",
    "TextDelta",
    "ThinkingDelta",
    "UnknownModelWarning",
    "UsageSoFar",
    "known_models",
    "model_info",
    "model_prices",
]
