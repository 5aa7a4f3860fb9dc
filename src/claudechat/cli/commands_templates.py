"""``claudechat templates save|list|show|rm``: named system prompts (roles)."""

from __future__ import annotations

import click

from ..config import STRATEGIES

__all__ = ["templates"]


@click.group()
def templates() -> None:
    """Named system prompts with a model and strategy (use with -t NAME or /template)."""


@templates.command("save")
@click.argument("name")
@click.option("-s", "--system", default=None, help="The system prompt.")
@click.option("-m", "--model", default=None, help="The model.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=None, help="The strategy.")
def save_(name: str, system: str | None, model: str | None, strategy: str | None) -> None:
    """Save (or replace) template NAME."""
    from ..errors import UserError
    from .templates import Template, save

    if system is None and model is None and strategy is None:
        raise UserError("a template needs --system, --model or --strategy")
    path = save(Template(name, system=system, model=model, strategy=strategy))
    click.echo(f"saved template {name} ({path})")


@templates.command("list")
def list_() -> None:
    """The templates, with the start of each system prompt."""
    from .templates import list_names, load

    for name in list_names():
        template = load(name)
        system = " ".join((template.system or "").split())
        tags = "".join(f"[{v}] " for v in (template.model, template.strategy) if v)
        line = f"{name}  {tags}{system}".rstrip()
        click.echo(line if len(line) <= 100 else line[:99] + "…")


@templates.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print template NAME as its TOML file holds it."""
    from .templates import load

    click.echo(load(name).to_toml(), nl=False)


@templates.command("rm")
@click.argument("name")
def rm(name: str) -> None:
    """Remove template NAME."""
    from .templates import delete

    delete(name)
    click.echo(f"removed template {name}")
