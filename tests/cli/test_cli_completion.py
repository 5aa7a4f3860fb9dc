"""Shell completion: ``claudechat completion bash|zsh|fish`` prints click's script, and the
completion it calls back completes commands and options."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

Run = Callable[..., Result]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "_CLAUDECHAT_COMPLETE=bash_complete"),
        ("zsh", "#compdef claudechat"),
        ("fish", "complete --no-files --command claudechat"),
    ],
)
def test_completion_prints_the_script(run: Run, shell: str, marker: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0, result.output
    assert marker in result.stdout


def test_the_script_completes_commands_and_options(run: Run) -> None:
    def complete(words: str, index: int) -> list[str]:
        env = {
            "_CLAUDECHAT_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(index),
        }
        return run(env=env).stdout.splitlines()

    assert complete("claudechat tem", 1) == ["plain,templates"]
    assert "plain,--temperature" in complete("claudechat ask --tem", 2)
    assert complete("claudechat completion z", 2) == ["plain,zsh"]


def test_an_unknown_shell_is_a_usage_error(run: Run) -> None:
    assert run("completion", "tcsh").exit_code == 2
