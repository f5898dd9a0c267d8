"""Records that are not objects, and a cursor that is not a string, through the command.

Before (issue #10.4, #10.5): ``{"result":["abc",[1,2],"def"]}`` wrote lines such as
``{"integrated_account_id":"acc00002",abc"`` and exited 0; ``[1, null]`` ended in a
``TypeError`` traceback; a numeric ``next_cursor`` ended the account as done. Now the page
fails with ``MalformedBody``: exit 1, the account failed in the report, no record line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest

from tests.cli.support import TOKEN, assert_no_token, cli_env, run_cli
from tests.client.hostile import RawServer

pytestmark = pytest.mark.anyio

BODIES = {
    "strings and a list": b'{"result":["abc",[1,2],"def"],"next_cursor":null}',
    "a number and null": b'{"result":[1,null],"next_cursor":null}',
    "a numeric cursor": b'{"result":[{"id":"a"},{"id":"b"}],"next_cursor":12345}',
    "an object cursor": b'{"result":[{"id":"a"}],"next_cursor":{"page":2}}',
}


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
@pytest.mark.parametrize("name", list(BODIES))
async def test_a_malformed_page_fails_its_account_and_writes_no_record(
    tmp_path: Path, name: str, fmt: str
) -> None:
    output, report = tmp_path / f"users.{fmt}", tmp_path / "report.json"
    with RawServer(BODIES[name], chunked=False) as server:
        result = await run_cli(
            "sweep", "usage-metering/users", "--account", "acc1", "--base-url", server.url,
            "--format", fmt, "--output", str(output), "--report", str(report),
            "--progress", "never", env=cli_env(TOKEN),
        )  # fmt: skip
    assert result.code == 1, result.err
    assert "Traceback" not in result.err and "MalformedBody" in result.err
    (account,) = orjson.loads(report.read_bytes())["accounts"]
    assert account["state"] == "failed" and account["error_type"] == "MalformedBody"
    text = output.read_text(encoding="utf-8")  # every account ended: the file is in place
    if fmt == "ndjson":
        assert text == ""
    else:
        assert list(csv.DictReader(io.StringIO(text))) == []
    assert_no_token(result.stdout, result.stderr, paths=[tmp_path])
