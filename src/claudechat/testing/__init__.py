"""A deterministic offline emulator of the Anthropic Messages API, under the real SDK.

emu = Emulator(script=["Hello!"])
client = anthropic.Anthropic(api_key="test", http_client=emu.http_client())
chat = claudechat.Chat(client=offline_client(emu))   # the same, in one call
"""

from ._faults import Fault
from ._function_model import AsyncFunctionModel, AsyncScriptedModel, FunctionModel, ScriptedModel
from ._memory import MemoryScript, memory_call
from ._offline import offline_client
from ._reply import EmuReply, EmuRequest
from ._samples import sample_pdf, sample_png
from ._server import EmulatorServer, serve
from ._signature import sign_thinking
from ._tokens import count_tokens_text
from ._transport import EmulatorTransport, EmuResponse
from .emulator import Emulator, RecordedRequest

__all__ = [
    "AsyncFunctionModel",
    "AsyncScriptedModel",
    "EmuReply",
    "EmuRequest",
    "EmuResponse",
    "Emulator",
    "EmulatorServer",
    "EmulatorTransport",
    "Fault",
    "FunctionModel",
    "MemoryScript",
    "RecordedRequest",
    "ScriptedModel",
    "count_tokens_text",
    "memory_call",
    "offline_client",
    "sample_pdf",
    "sample_png",
    "serve",
    "sign_thinking",
]
