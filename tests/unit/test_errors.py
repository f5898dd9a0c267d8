"""The error hierarchy: status mapping, retryability, and no token anywhere."""

from __future__ import annotations

import pickle

import pytest

from truto_stream import errors as e


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (400, {}, e.BadRequest, False),
        (401, {}, e.AuthError, False),
        (401, {"truto_is_remote_error": True}, e.NeedsReauth, False),
        (403, {}, e.Forbidden, False),
        (404, {}, e.NotFound, False),
        (409, {"truto_is_remote_error": True}, e.Conflict, False),
        (422, {}, e.Unprocessable, False),
        (429, {}, e.RateLimited, True),
        (429, {"truto_is_remote_error": True}, e.RateLimited, True),
        (500, {}, e.ServerError, True),
        (500, {"truto_is_remote_error": True}, e.ServerError, True),
        (502, {}, e.ServerError, True),
        (504, {"truto_is_remote_error": True}, e.ServerError, True),
        (503, {}, e.AccountBlocked, False),
        (503, {"truto_is_remote_error": True}, e.AccountBlocked, False),
        (418, {}, e.HTTPError, False),
    ],
)
def test_error_for_status(
    status: int, body: dict[str, object], cls: type[e.HTTPError], retryable: bool
) -> None:
    err = e.error_for_status(status, body, account_id="acc-1", path="/unified/x/y")
    assert type(err) is cls
    assert err.status == status
    assert err.retryable is retryable
    assert "acc-1" in str(err)
    assert "/unified/x/y" in str(err)


def test_truto_fields_are_kept() -> None:
    body = {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "integrated_account_id is required",
        "truto_error_insight": {"missing_required_query_parameters": {"value": ["x"]}},
    }
    err = e.error_for_status(400, body)
    assert err.error == "Bad Request"
    assert err.truto_message == "integrated_account_id is required"
    assert "missing_required_query_parameters" in err.insight
    assert "integrated_account_id is required" in str(err)


def test_errors_pickle_round_trip() -> None:
    err = e.error_for_status(503, {"error": "Service Unavailable"}, account_id="a")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is e.AccountBlocked
    assert str(back) == str(err)
    assert (back.status, back.account_id, back.error) == (503, "a", "Service Unavailable")
    timeout = pickle.loads(pickle.dumps(e.RequestTimeout("slow", path="/p")))
    assert (type(timeout), timeout.path, timeout.retryable) == (e.RequestTimeout, "/p", True)
