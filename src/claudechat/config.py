"""Configuration for the command line: flags > environment > config file > defaults.

The file is TOML at ``platformdirs.user_config_dir("claudechat")/config.toml`` (or
``$CLAUDECHAT_CONFIG``). Everything is resolved once, into a frozen ``Settings``; the
environment is a parameter so tests inject it instead of patching ``os.environ``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

__all__ = [
    "DEFAULT_CLI_MODEL",
    "KEYS",
    "PRIVATE_MODE",
    "STRATEGIES",
    "Settings",
    "config_path",
    "make_private",
    "parse_value",
    "read_config",
    "redact",
    "resolve",
    "set_value",
    "unset_value",
]

DEFAULT_CLI_MODEL = "claude-sonnet-4-6"
STRATEGIES = ("window", "summary", "compact")
CACHE_TTLS = ("5m", "1h")
EMBEDDERS = ("auto", "minilm", "hashing")
THINKING_MODES = ("off", "auto", "adaptive")  # or a budget in tokens
MEMORY_SCOPES = ("off", "conversation", "shared")  # as claudechat.memorytool names them
PRIVATE_MODE = 0o600  # config, exports and input history hold secrets and conversations

# The password runs to the last "@" of the URL's authority (an unescaped "@" in it included).
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/?#@\s:]*:)[^\s/?#]*(?=@[^@\s/?#]*)", re.I
)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('[^']*'|\S+)", re.I)


def redact(text: str) -> str:
    """``text`` with the password of every store URL / conninfo in it replaced by ***."""
    text = _URL_PASSWORD.sub(r"\g<head>***", text)
    return _KEYWORD_PASSWORD.sub(r"\g<head>***", text)


def make_private(path: Path) -> None:
    """Make an existing file readable by its owner only (0600) if it is looser."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(mode & 0o700 | PRIVATE_MODE)


def _text(key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{key} must be a non-empty string, got {raw!r}")
    return raw


def _positive_int(key: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"{key} must be a positive whole number, got {raw!r}")
    if isinstance(raw, str):
        cleaned = raw.strip().replace("_", "").replace(",", "").lower()
        scale = 1
        if cleaned.endswith("k"):
            cleaned, scale = cleaned[:-1], 1000
        try:
            raw = int(cleaned) * scale
        except ValueError:
            raise ConfigError(f"{key} must be a positive whole number, got {raw!r}") from None
    if not isinstance(raw, int) or raw < 1:
        raise ConfigError(f"{key} must be a positive whole number, got {raw!r}")
    return raw


def _positive_number(key: str, raw: Any) -> float:
    try:
        value = float(str(raw).strip().lstrip("$")) if not isinstance(raw, bool) else -1.0
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{key} must be a positive number, got {raw!r}")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, raw: Any) -> str:
        value = str(raw).strip().lower() if isinstance(raw, str) else raw
        if value not in options:
            raise ConfigError(f"{key} must be one of {', '.join(options)}, got {raw!r}")
        return str(value)

    return check


def _bool(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key} must be true or false, got {raw!r}")


def _any_text(key: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{key} must be a string, got {raw!r}")
    return raw


def _budget(key: str, raw: Any) -> int | Literal["max"]:
    """A token count (``20k`` works), or "max" for the model's whole window."""
    if isinstance(raw, str) and raw.strip().lower() == "max":
        return "max"
    return _positive_int(key, raw)


def _thinking(key: str, raw: Any) -> str | int:
    """off, auto (adaptive where the model takes it), adaptive, or a budget in tokens."""
    if isinstance(raw, str) and raw.strip().lower() in THINKING_MODES:
        return raw.strip().lower()
    budget = _positive_int(key, raw)
    if budget < 1024:
        raise ConfigError(f"{key} must be off, auto, adaptive or a budget of at least 1024 tokens")
    return budget


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    parse: Callable[[str, Any], Any]
    help: str

    @property
    def env(self) -> str:
        return "CLAUDECHAT_" + self.name.upper()


ALIASES = "aliases"  # the config file's table of model aliases (aliases.NAME = model)

KEYS: dict[str, _Key] = {
    k.name: k
    for k in (
        _Key("model", _text, "default model name"),
        _Key("system", _any_text, "default system prompt"),
        _Key("budget", _budget, 'input-token budget per request (default 200k; "max": the window)'),
        _Key("strategy", _choice(STRATEGIES), "context strategy: window, summary or compact"),
        _Key("store", _text, "store URL (postgresql://…) or 'memory'; default SQLite"),
        _Key("db", _text, "SQLite database file"),
        _Key("max_tokens", _positive_int, "max output tokens per reply"),
        _Key("cache_ttl", _choice(CACHE_TTLS), "prompt-cache TTL: 5m or 1h"),
        _Key("summary_model", _text, "model that writes rolling summaries"),
        _Key("recall", _bool, "bring back relevant old turns that left the window"),
        _Key("embedder", _choice(EMBEDDERS), "recall, search --semantic: auto, minilm or hashing"),
        _Key("confirm_tokens", _positive_int, "ask before sending a prompt over this many tokens"),
        _Key("confirm_usd", _positive_number, "ask before sending a prompt costing more (USD)"),
        _Key("auto_title", _bool, "name a new conversation with the cheap model after one turn"),
        _Key("threads", _bool, "send only new messages through server-side message threads"),
        _Key("thinking", _thinking, "off, auto (adaptive where supported), adaptive or a budget"),
        _Key("memory", _choice(MEMORY_SCOPES), "memory tool: off, conversation or shared"),
    )
}


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration; ``sources`` says where each value came from."""

    model: str = DEFAULT_CLI_MODEL
    system: str | None = None
    budget: int | Literal["max"] | None = None
    strategy: str = "window"
    store: str | None = None
    db: str | None = None
    max_tokens: int = 4096
    cache_ttl: str = "5m"
    summary_model: str | None = None
    recall: bool = True
    embedder: str = "auto"
    confirm_tokens: int = 50_000
    confirm_usd: float = 0.50
    auto_title: bool = False
    threads: bool = False
    thinking: str | int = "auto"
    memory: str = "off"
    aliases: dict[str, str] = field(default_factory=dict)  # [aliases] of the file: NAME = model
    config_file: Path | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        """The value of a configuration key."""
        _key(key)
        return getattr(self, key)


def _key(name: str) -> _Key:
    key = KEYS.get(name.replace("-", "_"))
    if key is None:
        raise ConfigError(f"unknown config key {name!r}: use one of {', '.join(KEYS)}")
    return key


def parse_value(name: str, raw: Any) -> Any:
    """Check and convert one value for key ``name`` (strings from flags, env or TOML)."""
    key = _key(name)
    return key.parse(key.name, raw)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the config file is: ``$CLAUDECHAT_CONFIG`` or the user config directory."""
    env = os.environ if env is None else env
    explicit = env.get("CLAUDECHAT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("claudechat")) / "config.toml"


def read_config(path: Path) -> dict[str, Any]:
    """The file's values, checked; {} when the file does not exist."""
    try:
        raw = path.read_bytes()
        with contextlib.suppress(PermissionError):  # someone else's file: read it as it is
            make_private(path)
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise ConfigError(f"cannot read the config file {path}: {err.strerror}") from err
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"the config file {path} is not valid TOML: {err}") from err
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name == ALIASES:
            out[ALIASES] = _aliases(path, value)
            continue
        try:
            out[_key(name).name] = parse_value(name, value)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from err
    return out


def resolve(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Settings:
    """Resolve every key once: flags (None = not given) > environment > file > defaults."""
    env = os.environ if env is None else env
    path = path or config_path(env)
    file_values = read_config(path)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, key in KEYS.items():
        flag = (flags or {}).get(name)
        if flag is not None:
            values[name], sources[name] = parse_value(name, flag), "flag"
        elif env.get(key.env):
            try:
                values[name] = parse_value(name, env[key.env])
            except ConfigError as err:
                raise ConfigError(f"{key.env}: {err}") from err
            sources[name] = "env"
        elif name in file_values:
            values[name], sources[name] = file_values[name], "file"
        else:
            sources[name] = "default"
    aliases = file_values.get(ALIASES, {})
    for name in ("model", "summary_model"):
        if name in values:
            values[name] = _model_name(name, values[name], aliases, sources[name])
    return Settings(**values, aliases=aliases, config_file=path, sources=sources)


def _aliases(path: Path, value: Any) -> dict[str, str]:
    """The file's [aliases] table: short names for models."""
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f'{path}: [aliases] must map names to model names (sonnet = "…")')
    return {str(k): v.strip() for k, v in value.items()}


def _model_name(key: str, name: str, aliases: Mapping[str, str], source: str) -> str:
    """A model setting with its alias resolved; ConfigError ("did you mean …?") for a near
    miss of a known model name."""
    from .errors import UnknownModel
    from .models.aliases import check_model_name

    try:
        return check_model_name(name, aliases)
    except UnknownModel as err:
        where = {"flag": "", "env": f"{KEYS[key].env}: ", "file": "config file: "}.get(source, "")
        raise ConfigError(f"{where}{err}") from err


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = json.dumps(str(value), ensure_ascii=False)
    return text.replace("\x7f", "\\u007f")  # JSON leaves DEL bare; TOML needs it escaped


def _write(path: Path, values: Mapping[str, Any]) -> None:
    order = [f.name for f in fields(Settings)]
    lines = ["# claudechat configuration (claudechat config set KEY VALUE)"]
    for name in sorted(values.keys() - {ALIASES}, key=order.index):
        lines.append(f"{name} = {_toml_value(values[name])}")
    if values.get(ALIASES):
        lines.append(f"\n[{ALIASES}]")
        lines.extend(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in values[ALIASES].items())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with open(fd, "w", encoding="utf-8") as file:
        os.fchmod(fd, PRIVATE_MODE)  # an old .tmp left looser
        file.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _check_not_retired(model: str) -> None:
    """ConfigError for a model past its retirement date (naming its successor), so that it
    is not written as a default every later request would fail on. A file that already
    names one still loads: the chat refuses it when it is used, with the same message."""
    from datetime import UTC, datetime

    from .models.capabilities import model_info

    info = model_info(model, warn=False)
    if info.retires is not None and datetime.now(UTC).date() >= info.retires:
        instead = f"; use {info.replacement} instead" if info.replacement else ""
        raise ConfigError(
            f"model {info.name!r} was retired on {info.retires.isoformat()}{instead}; "
            "nothing was written"
        )


def set_value(path: Path, name: str, raw: Any) -> Any:
    """Check ``raw`` for key ``name`` (or ``aliases.NAME``) and write it to the file;
    returns the stored value."""
    values = read_config(path)
    if name.startswith(ALIASES + "."):
        alias = name.split(".", 1)[1].strip()
        if not alias or not str(raw).strip():
            raise ConfigError("an alias needs a name and a model: aliases.NAME MODEL")
        model = _model_name("model", str(raw), {}, "flag")
        _check_not_retired(model)
        values[ALIASES] = {**values.get(ALIASES, {}), alias: str(raw).strip()}
        _write(path, values)
        return str(raw).strip()
    key = _key(name)
    value = parse_value(key.name, raw)
    if key.name in ("model", "summary_model"):
        _check_not_retired(_model_name(key.name, value, values.get(ALIASES, {}), "flag"))
    values[key.name] = value
    _write(path, values)
    return value


def unset_value(path: Path, name: str) -> bool:
    """Remove key ``name`` (or ``aliases.NAME``) from the file; False when it was not set."""
    values = read_config(path)
    if name.startswith(ALIASES + "."):
        aliases = dict(values.get(ALIASES, {}))
        if aliases.pop(name.split(".", 1)[1].strip(), None) is None:
            return False
        values[ALIASES] = aliases
        _write(path, values)
        return True
    key = _key(name)
    if key.name not in values:
        return False
    del values[key.name]
    _write(path, values)
    return True
