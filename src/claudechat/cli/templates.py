"""Templates (roles): a named system prompt with an optional model and strategy, kept as
one small TOML file per template in ``templates/`` beside the configuration file, so
they can be read and edited by hand. ``-t NAME`` applies one; explicit flags still win."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import PRIVATE_MODE, config_path, parse_value
from ..errors import ConfigError, UserError

__all__ = ["TEMPLATE_KEYS", "Template", "delete", "list_names", "load", "save", "templates_dir"]

TEMPLATE_KEYS = ("system", "model", "strategy")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Template:
    """A named set of chat settings."""

    name: str
    system: str | None = None
    model: str | None = None
    strategy: str | None = None

    def values(self) -> dict[str, str]:
        """The settings it sets (those left out are not touched)."""
        return {k: v for k in TEMPLATE_KEYS if (v := getattr(self, k)) is not None}

    def to_toml(self) -> str:
        """The file's text."""
        lines = [f"# claudechat template {self.name} (-t {self.name}, /template {self.name})"]
        for key, value in self.values().items():
            text = json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
            lines.append(f"{key} = {text}")  # a JSON string is a TOML basic string
        return "\n".join(lines) + "\n"


def templates_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where templates live: ``templates/`` beside the configuration file."""
    return config_path(env).parent / "templates"


def _path(name: str, env: Mapping[str, str] | None) -> Path:
    if not _NAME.match(name):
        raise UserError(
            f"bad template name {name!r}: use letters, digits, '-', '_' or '.' (up to 64)"
        )
    return templates_dir(env) / f"{name}.toml"


def load(name: str, env: Mapping[str, str] | None = None) -> Template:
    """The template called ``name``; UserError when there is none, ConfigError when its
    file is not valid."""
    path = _path(name, env)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(list_names(env)) or "none yet"
        raise UserError(f"no template {name!r} (templates: {known})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"the template file {path} is not valid TOML: {err}") from None
    unknown = set(data) - set(TEMPLATE_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {', '.join(sorted(unknown))} "
                          f"(a template holds {', '.join(TEMPLATE_KEYS)})")  # fmt: skip
    values: dict[str, Any] = {}
    for key, raw in data.items():
        try:
            values[key] = parse_value(key, raw)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
    return Template(name, **values)


def save(template: Template, env: Mapping[str, str] | None = None) -> Path:
    """Write the template's file (0600: a system prompt may be private); returns it."""
    for key, value in template.values().items():
        parse_value(key, value)
    path = _path(template.name, env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with open(fd, "w", encoding="utf-8") as file:
        os.fchmod(fd, PRIVATE_MODE)
        file.write(template.to_toml())
    return path


def delete(name: str, env: Mapping[str, str] | None = None) -> None:
    """Remove a template; UserError when there is none."""
    path = _path(name, env)
    try:
        path.unlink()
    except FileNotFoundError:
        raise UserError(f"no template {name!r}") from None


def list_names(env: Mapping[str, str] | None = None) -> list[str]:
    """The templates' names, sorted."""
    folder = templates_dir(env)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if _NAME.match(p.stem))
