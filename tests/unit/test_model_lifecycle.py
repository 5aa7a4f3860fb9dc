"""Model retirement is data: a warning naming the successor before the date, a typed refusal on
and after it, before anything is stored or sent."""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from claudechat import RetiredModel, UserError
from claudechat.models import DeprecatedModelWarning, known_models, model_info
from claudechat.models.capabilities import check_lifecycle


def test_the_table_holds_the_sdk_retirement_dates() -> None:
    assert model_info("claude-sonnet-4-5").retires == date(2026, 11, 30)
    assert model_info("claude-sonnet-4-5-20250929").retires == date(2026, 11, 30)
    assert model_info("claude-opus-4-5").retires == date(2027, 1, 22)
    assert model_info("claude-opus-4-5").replacement == "claude-opus-4-6"
    assert model_info("claude-sonnet-4-6").retires is None


def test_every_replacement_is_a_model_that_does_not_retire() -> None:
    for name in known_models():
        info = model_info(name)
        if info.retires is not None:
            assert info.replacement in known_models()
            assert model_info(info.replacement).retires is None


def test_a_deprecated_model_warns_once_in_one_line_naming_the_successor() -> None:
    with pytest.warns(DeprecatedModelWarning) as caught:
        check_lifecycle(model_info("claude-sonnet-4-5"), today=date(2026, 11, 29))
    (warning,) = caught
    message = str(warning.message)
    assert "\n" not in message
    assert "retires on 2026-11-30" in message and "claude-sonnet-4-6" in message


@pytest.mark.parametrize("today", [date(2026, 11, 30), date(2027, 5, 1)])
def test_from_the_retirement_date_on_the_model_is_refused(today: date) -> None:
    with pytest.raises(RetiredModel) as caught:
        check_lifecycle(model_info("claude-sonnet-4-5"), today=today)
    err = caught.value
    assert isinstance(err, UserError)
    assert (err.model, err.retired_on, err.replacement) == (
        "claude-sonnet-4-5",
        date(2026, 11, 30),
        "claude-sonnet-4-6",
    )
    assert "retired on 2026-11-30; use claude-sonnet-4-6 instead" in str(err)


def test_a_model_without_a_date_says_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_lifecycle(model_info("claude-sonnet-4-6"), today=date(2099, 1, 1))
