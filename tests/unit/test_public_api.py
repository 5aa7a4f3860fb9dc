"""The public surface: a sorted, complete, importable ``__all__``; one SDK importer."""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import claudechat

SRC = Path(claudechat.__file__).parent


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff keeps __all__ in (RUF022, isort-style): CONSTANTS, then Classes,
    # then functions, each alphabetical.
    if name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


PACKAGES = [
    "claudechat",
    "claudechat.cli",
    "claudechat.context",
    "claudechat.models",
    "claudechat.search",
    "claudechat.store",
    "claudechat.testing",
]
LIBRARY_PACKAGES = [name for name in PACKAGES if name not in ("claudechat", "claudechat.cli")]
README = (SRC.parent.parent / "README.md").read_text(encoding="utf-8")


def _attribute_docstrings(package: ModuleType) -> set[str]:
    # Names given a docstring right after their assignment (``NAME = ...`` then a string),
    # in the package's own modules: how a constant or a type alias is documented.
    folder = Path(package.__file__ or "").parent
    documented = set()
    for path in folder.rglob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node, following in itertools.pairwise(body):
            if (
                isinstance(node, ast.Assign | ast.AnnAssign)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                documented |= {t.id for t in targets if isinstance(t, ast.Name)}
    return documented


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_unique(name: str) -> None:
    names = list(importlib.import_module(name).__all__)
    assert names == sorted(names, key=_isort_key)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("package_name", PACKAGES)
def test_every_name_in_all_exists_and_is_documented(package_name: str) -> None:
    package = importlib.import_module(package_name)
    attribute_docs = _attribute_docstrings(package)
    for name in package.__all__:
        obj = getattr(package, name)  # raises if missing
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{package_name}.{name} has no docstring"
        else:  # a constant or a type alias: an attribute docstring, or named in the docs
            named = re.compile(rf"\b{name}\b")
            assert (
                name in attribute_docs
                or named.search(package.__doc__ or "")
                or named.search(README)
            ), f"{package_name}.{name} is documented nowhere"


@pytest.mark.parametrize("name", PACKAGES)
def test_star_import_gives_exactly_all(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {name} import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(
        importlib.import_module(name).__all__
    )


def test_all_is_complete() -> None:
    # Every public name the package module binds is either re-exported or a submodule.
    public = {
        name
        for name, value in vars(claudechat).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(claudechat.__all__)


@pytest.mark.parametrize("package_name", LIBRARY_PACKAGES)
def test_subpackages_export_every_name_they_import_from_themselves(package_name: str) -> None:
    # A subpackage binds its own names only to export them: nothing is half public.
    package = importlib.import_module(package_name)
    own = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and (getattr(value, "__module__", None) or "").startswith(package_name)
    }
    assert own <= set(package.__all__)


def test_the_core_names_are_exported() -> None:
    for name in ("Chat", "AsyncChat", "Reply", "Message", "Usage", "ClaudeChatError"):
        assert name in claudechat.__all__


def test_subpackages_export_what_users_write_not_the_helpers() -> None:
    exported = {name: set(importlib.import_module(name).__all__) for name in PACKAGES}
    users_write = {
        "claudechat.context": {"ContextEngine", "Strategy", "TokenWindow", "WindowFill"},
        "claudechat.store": {"SQLiteStore", "open_store", "export_json", "import_file"},
        "claudechat.search": {"SQLiteIndex", "HashingEmbedder", "SearchIndex"},
        "claudechat.models": {"Model", "model_info", "Request"},
        "claudechat.testing": {"Emulator", "offline_client", "FunctionModel", "ScriptedModel"},
    }
    helpers = {
        "claudechat.context": {"Layout", "candidate_tokens", "fixed_tokens", "run_pipeline"},
        "claudechat.store": {"parse_import", "title_from", "ParsedImport", "EXPORT_FORMAT"},
        "claudechat.search": {"BM25", "porter_stem", "light_stem", "reciprocal_rank_fusion"},
        "claudechat.models": {"check_lifecycle"},
        "claudechat.testing": {"EmuAPIError", "run_server"},
    }
    for package, names in users_write.items():
        assert names <= exported[package], package
    for package, names in helpers.items():
        assert not names & exported[package], package


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
    # usage.py is the ground floor: prices are handed to it, never looked up from models/;
    # it names metadata keys from metadata.py, which imports nothing at all
    assert _our_imports(SRC / "usage.py") == [".metadata"]
    assert _our_imports(SRC / "metadata.py") == []
    assert "..usage" in _our_imports(SRC / "models" / "capabilities.py")  # the scan sees them
