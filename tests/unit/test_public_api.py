"""The public surface: a sorted, complete, importable ``__all__``; one SDK importer."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import claudechat

SRC = Path(claudechat.__file__).parent


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff keeps __all__ in (RUF022, isort-style): CONSTANTS, then Classes,
    # then functions, each alphabetical.
    if name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def test_all_is_sorted_and_unique() -> None:
    names = list(claudechat.__all__)
    assert names == sorted(names, key=_isort_key)
    assert len(names) == len(set(names))


def test_every_name_in_all_exists_and_is_documented() -> None:
    for name in claudechat.__all__:
        obj = getattr(claudechat, name)  # raises if missing
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from claudechat import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(claudechat.__all__)


def test_all_is_complete() -> None:
    # Every public name the package module binds is either re-exported or a submodule.
    public = {
        name
        for name, value in vars(claudechat).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(claudechat.__all__)


def test_the_core_names_are_exported() -> None:
    for name in ("Chat", "AsyncChat", "Reply", "Message", "Usage", "ClaudeChatError"):
        assert name in claudechat.__all__


def test_every_module_imports_and_its_all_names_exist() -> None:
    for info in pkgutil.walk_packages([str(SRC)], prefix="claudechat."):
        if info.name.startswith("claudechat.cli"):
            continue  # the CLI is checked by its own tests (optional terminal pieces)
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name) or name == "PostgresStore", f"{info.name}.{name}"


def _imports_anthropic(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name == "anthropic" or a.name.startswith("anthropic.") for a in node.names):
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module is not None
            and (node.module == "anthropic" or node.module.startswith("anthropic."))
        ):
            lines.append(node.lineno)
    return lines


def _sdk_importers() -> dict[str, list[int]]:
    return {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if (lines := _imports_anthropic(path))
    }


def test_only_models_anthropic_imports_the_sdk() -> None:
    importers = _sdk_importers()
    assert importers.get("models/anthropic.py"), "models/anthropic.py is the SDK importer"
    assert set(importers) == {"models/anthropic.py"}


def test_the_cli_does_not_import_the_sdk() -> None:
    importers = _sdk_importers()
    assert [p for p in importers if p.startswith("cli/")] == []


def test_the_scan_finds_every_import_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nimport anthropic\nimport anthropic.types as t\n"
        "from anthropic import Anthropic\nfrom anthropic.types import Message\n"
        "from .anthropic import x\nimport anthropic_tokenizer\n"
        "def f():\n    import anthropic\n",
        encoding="utf-8",
    )
    assert _imports_anthropic(sample) == [2, 3, 4, 5, 9]


def _our_imports(path: Path) -> list[str]:
    """The claudechat modules a file imports (relative imports count as ours)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "claudechat"]
        elif isinstance(node, ast.ImportFrom) and (
            node.level > 0 or (node.module or "").split(".")[0] == "claudechat"
        ):
            found.append("." * node.level + (node.module or ""))
    return found


def test_usage_imports_nothing_of_ours() -> None:
    # usage.py is the ground floor: prices are handed to it, never looked up from models/
    assert _our_imports(SRC / "usage.py") == []
    assert "..usage" in _our_imports(SRC / "models" / "capabilities.py")  # the scan sees them
