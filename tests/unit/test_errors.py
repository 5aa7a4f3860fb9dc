"""The model errors carry their details as attributes, given by keyword or left at None."""

from __future__ import annotations

import pickle

import pytest

from claudechat.errors import ContextOverflow, ModelError, RateLimited, StreamInterrupted


def test_details_given_are_kept_and_the_others_are_none() -> None:
    err = RateLimited("slow down", retry_after=2.5, status=429, request_id="req_1")
    assert (err.retry_after, err.status, err.request_id) == (2.5, 429, "req_1")
    assert err.error_type is None and err.error_code is None and not err.spend_limit
    assert str(err) == "slow down (status 429, request req_1)"
    overflow = ContextOverflow("too long", tokens=210_000)
    assert (overflow.tokens, overflow.limit, overflow.status) == (210_000, None, None)
    assert StreamInterrupted("cut").partial is None


def test_a_detail_of_another_error_is_refused() -> None:
    with pytest.raises(TypeError, match="ModelError takes no detail retry_after"):
        ModelError("boom", retry_after=1.0)
    with pytest.raises(TypeError, match="tokens"):
        RateLimited("slow down", tokens=5)


def test_an_error_survives_pickling_with_its_details() -> None:
    err = pickle.loads(pickle.dumps(RateLimited("slow down", retry_after=1.0, status=429)))
    assert isinstance(err, RateLimited)
    assert (str(err), err.retry_after, err.status) == ("slow down (status 429)", 1.0, 429)
