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
)
from .capabilities import ModelInfo, Prices, UnknownModelWarning, known_models, model_info

__all__ = [
    "AsyncModel",
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
    "known_models",
    "model_info",
]
