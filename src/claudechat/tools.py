"""Plain Python callables as Claude tools: schema from type hints and docstring, and running.

A function's first docstring paragraph becomes the tool description; an ``Args:`` section
(Google style) or ``:param x:`` lines describe the parameters. An exception raised by a
tool becomes an ``is_error`` tool_result carrying its message, so Claude can recover
(``ToolRefused``: the message alone, as the tool worded it).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from .errors import ToolDefinitionError, ToolRefused
from .messages import content_problem

__all__ = ["TOOL_NAME", "Tool", "ToolRegistry", "check_tool_name", "tool_schema"]

TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")  # the Messages API's rule for tool names


def check_tool_name(name: Any) -> str:
    """``name`` if the API accepts it as a tool name, else a ToolDefinitionError."""
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"tool name {name!r} must be 1-128 letters, digits, '_' or '-' (the API's rule)"
        )
    return name


_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    dict: {"type": "object"},
    list: {"type": "array"},
    Any: {},
}


def _json_type(tp: Any, where: str) -> dict[str, Any]:
    if tp in _SIMPLE:
        return dict(_SIMPLE[tp])
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is typing.Annotated:
        schema = _json_type(args[0], where)
        for extra in args[1:]:
            if isinstance(extra, str):
                schema["description"] = extra
        return schema
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _json_type(options[0], where)
        return {"anyOf": [_json_type(a, where) for a in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, Sequence, tuple, set, frozenset) or tp in (tuple, set):
        arr: dict[str, Any] = {"type": "array"}
        if args and args[-1] is not Ellipsis:
            arr["items"] = _json_type(args[0], where)
        return arr
    if origin in (dict, Mapping):
        obj: dict[str, Any] = {"type": "object"}
        if len(args) == 2:
            obj["additionalProperties"] = _json_type(args[1], where)
        return schema
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if inspect.isclass(tp) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)):
        hints = typing.get_type_hints(tp)
        return {
            "type": "object",
            "properties": {k: _json_type(v, f"{where}.{k}") for k, v in hints.items()},
            "required": list(hints),
        }
    raise ToolDefinitionError(f"{where}: cannot describe type {tp!r} as JSON schema")


def _param_docs(doc: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in re.finditer(r":param\s+(\w+):\s*(.+)", doc):
        out[m.group(1)] = m.group(2).strip()
    section = re.search(r"^\s*(Args|Arguments|Parameters):\s*\n(.*?)(\n\s*\n|\Z)", doc, re.S | re.M)
    if section:
        for line in section.group(2).splitlines():
            m2 = re.match(r"\s*(\w+)\s*(\([^)]*\))?\s*:\s*(.+)", line)
            if m2:
                out[m2.group(1)] = m2.group(3).strip()
    return out


def tool_schema(fn: Callable[..., Any], *, name: str | None = None) -> dict[str, Any]:
    """The API tool definition for a function, from its signature and docstring."""
    if not callable(fn):
        raise ToolDefinitionError(f"a tool must be callable, got {type(fn).__name__}")
    tool_name = check_tool_name(name or getattr(fn, "__name__", None))
    doc = inspect.getdoc(fn) or ""
    description = doc.split("\n\n", 1)[0].strip() or f"The {tool_name} function."
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as err:
        raise ToolDefinitionError(f"tool {tool_name}: cannot read its type hints: {err}") from err
    docs = _param_docs(doc)
    props: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if pname not in hints:
            raise ToolDefinitionError(f"tool {tool_name}: parameter {pname!r} has no type hint")
        schema = _json_type(hints[pname], f"{tool_name}({pname})")
        if pname in docs:
            schema.setdefault("description", docs[pname])
        if param.default is inspect.Parameter.empty:
            required.append(pname)
        else:
            try:
                json.dumps(param.default)
                schema["default"] = param.default
            except (TypeError, ValueError):
                pass
        props[pname] = schema
    return {
        "name": tool_name,
        "description": description,
        "input_schema": {"type": "object", "properties": props, "required": required},
    }


@dataclasses.dataclass(frozen=True, slots=True)
class Tool:
    """A callable with its schema."""

    fn: Callable[..., Any]
    schema: dict[str, Any]

    @property
    def name(self) -> str:
        """The tool's name as Claude sees it."""
        return str(self.schema["name"])


def _result_content(value: Any) -> str | list[dict[str, Any]]:
    """What a tool returned as tool_result content; ValueError for what cannot be stored."""
    content = _as_content(value)
    problem = content_problem(content, "result")
    if problem:
        raise ValueError(problem)
    return content


def _as_content(value: Any) -> str | list[dict[str, Any]]:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, dict) and "type" in b for b in value):
        return value  # already content blocks
    try:
        return json.dumps(value, ensure_ascii=False, default=_default)
    except (TypeError, ValueError) as err:
        raise TypeError(f"result is not JSON-serialisable: {err}") from err


def _default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


class ToolRegistry:
    """The tools of one chat: schemas to send, and the runner for tool_use blocks."""

    def __init__(self, tools: Sequence[Callable[..., Any] | Tool | Mapping[str, Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._raw: list[dict[str, Any]] = []  # server tools / ready-made schemas, sent as-is
        for t in tools:
            self.add(t)

    def add(self, tool: Callable[..., Any] | Tool | Mapping[str, Any]) -> None:
        """Register a callable, a Tool, or a ready schema dict (e.g. a server tool).

        Every name is checked as the API checks it, and every schema must be JSON the
        API can take, so a bad tool fails here rather than on each request.
        """
        if isinstance(tool, Tool):
            if not callable(tool.fn) or not isinstance(tool.schema, Mapping):
                raise ToolDefinitionError("a Tool needs a callable and a schema dict")
            entry = tool
            schema: Mapping[str, Any] = tool.schema
        elif isinstance(tool, Mapping):
            entry = None
            schema = tool
        else:
            entry = Tool(tool, tool_schema(tool))
            schema = entry.schema
        if "name" not in schema:
            raise ToolDefinitionError("a tool schema needs a 'name'")
        name = check_tool_name(schema["name"])
        problem = content_problem(dict(schema), f"tool {name}")
        if problem:
            raise ToolDefinitionError(problem)
        if name in self._tools or any(r["name"] == name for r in self._raw):
            raise ToolDefinitionError(f"two tools are named {name!r}")
        if entry is None:
            self._raw.append(dict(schema))
        else:
            self._tools[name] = entry

    def __bool__(self) -> bool:
        return bool(self._tools or self._raw)

    @property
    def schemas(self) -> list[dict[str, Any]]:
        """Tool definitions for the request, in a stable order (so the cache holds)."""
        return [t.schema for t in self._tools.values()] + self._raw

    def _call(self, block: Mapping[str, Any]) -> tuple[Any, Callable[[], Any] | dict[str, Any]]:
        """A tool_use block's id, and its tool's call on its input (or the error result to
        send instead: an unknown tool, an input that is not an object)."""
        tid = block.get("id")
        name = str(block.get("name"))
        args = block.get("input") or {}
        tool = self._tools.get(name)
        if tool is None:
            return tid, _error(tid, f"unknown tool {name!r}")
        if not isinstance(args, Mapping):
            return tid, _error(tid, f"tool input must be an object, got {type(args).__name__}")
        return tid, lambda: tool.fn(**args)

    def run(self, block: Mapping[str, Any]) -> dict[str, Any]:
        """Run one tool_use block and return its tool_result block (errors included)."""
        tid, call = self._call(block)
        if isinstance(call, dict):
            return call
        try:
            value = call()
            if inspect.isawaitable(value):
                raise TypeError("async tools need AsyncChat")
            content = _result_content(value)
        except ToolRefused as err:  # the tool's own words, as is
            return _error(tid, str(err))
        except Exception as err:  # a tool's failure is reported to Claude, not raised
            return _failed(tid, err)
        return {"type": "tool_result", "tool_use_id": tid, "content": content}

    async def arun(self, block: Mapping[str, Any]) -> dict[str, Any]:
        """Async twin of ``run``: awaits coroutine tools."""
        tid, call = self._call(block)
        if isinstance(call, dict):
            return call
        try:
            value = call()
            content = _result_content(await value if inspect.isawaitable(value) else value)
        except ToolRefused as err:
            return _error(tid, str(err))
        except Exception as err:
            return _failed(tid, err)
        return {"type": "tool_result", "tool_use_id": tid, "content": content}


def _failed(tid: Any, err: Exception) -> dict[str, Any]:
    return _error(tid, f"{type(err).__name__}: {err}")


def _error(tid: Any, text: str) -> dict[str, Any]:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # storable, whatever it says
    return {"type": "tool_result", "tool_use_id": tid, "content": text, "is_error": True}
