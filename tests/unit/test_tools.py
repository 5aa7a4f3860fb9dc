"""tools.py: schemas from hints and docstrings; running, errors as is_error results."""

from __future__ import annotations

import json
from typing import Literal

import pytest

from claudechat.errors import ToolDefinitionError
from claudechat.tools import ToolRegistry, tool_schema


def get_weather(
    city: str, unit: Literal["c", "f"] = "c", days: int | None = None
) -> dict[str, object]:
    """Current weather for a city.

    Args:
        city: The city name.
        unit: Temperature unit.
    """
    return {"city": city, "temp": 21, "unit": unit}


def test_schema_from_hints_and_docstring() -> None:
    schema = tool_schema(get_weather)
    assert schema["name"] == "get_weather"
    assert schema["description"] == "Current weather for a city."
    props = schema["input_schema"]["properties"]
    assert props["city"] == {"type": "string", "description": "The city name."}
    assert props["unit"]["enum"] == ["c", "f"] and props["unit"]["default"] == "c"
    assert props["days"] == {"type": "integer", "default": None}
    assert schema["input_schema"]["required"] == ["city"]


def test_missing_hint_is_a_definition_error() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(ToolDefinitionError, match="has no type hint"):
        tool_schema(f)


def test_run_returns_json_result() -> None:
    reg = ToolRegistry([get_weather])
    out = reg.run(
        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}}
    )
    assert out["tool_use_id"] == "t1" and "is_error" not in out
    assert json.loads(out["content"])["city"] == "Oslo"


def test_raising_tool_becomes_is_error_result() -> None:
    def boom(x: int) -> int:
        """Fails."""
        raise RuntimeError("disk on fire")

    out = ToolRegistry([boom]).run({"id": "t1", "name": "boom", "input": {"x": 1}})
    assert out["is_error"] is True and "disk on fire" in out["content"]


def test_unserialisable_result_and_unknown_tool_are_errors() -> None:
    def weird() -> object:
        """Returns an object."""
        return object()

    reg = ToolRegistry([weird])
    out = reg.run({"id": "t1", "name": "weird", "input": {}})
    assert out["is_error"] is True and "JSON" in out["content"]
    assert reg.run({"id": "t2", "name": "nope", "input": {}})["is_error"] is True


def test_bad_arguments_become_is_error_result() -> None:
    out = ToolRegistry([get_weather]).run(
        {"id": "t1", "name": "get_weather", "input": {"town": "x"}}
    )
    assert out["is_error"] is True and "TypeError" in out["content"]


def test_duplicate_names_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match="two tools"):
        ToolRegistry([get_weather, get_weather])
