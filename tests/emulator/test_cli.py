"""The command line: --help, the listening line, scenario files, EmulatorProcess."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.emulator.cli import build_parser, config_from_args
from truto_stream.emulator.scenario import ScenarioError, config_from_mapping, load_scenario

REQUIRED_OPTIONS = [
    "--host", "--port", "--token", "--seed", "--accounts", "--users", "--latency-ms",
    "--latency-jitter-ms", "--rate-window-s", "--stream-framing", "--faults", "--scenario",
    "--token-limit", "--account-limit", "--retry-after", "--bandwidth", "--no-stats",
    "--stream-meta", "--tenants", "--needs-reauth", "--connecting", "--blocked",
]  # fmt: skip


def _help() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "truto_stream.cli", "emulator", "--help"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return out.stdout


def test_help_documents_every_option() -> None:
    text = _help()
    for option in REQUIRED_OPTIONS:
        assert option in text, option
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in text, flag
        if action.option_strings and action.dest != "help":
            assert action.help, action.option_strings
    for framing in ("envelope", "ndjson", "array", "page"):
        assert framing in text
    assert "KIND[:ARG][@WHERE][xTIMES]" in text


def _get(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_cli_prints_listening_line_and_serves() -> None:
    cmd = [sys.executable, "-m", "truto_stream.emulator", "--port", "0", "--token", "tok",
           "--accounts", "1", "--users", "5"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.strip().removeprefix("listening on ")
        accounts = _get(url + "/integrated-account", "tok")["result"]
        assert len(accounts) == 3
        users = _get(
            f"{url}/unified/usage-metering/users?integrated_account_id={accounts[0]['id']}",
            "tok",
        )
        assert users["result_count"] == 5
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.stdout.read() == ""  # exactly one line
    proc.stdout.close()


def test_truto_stream_emulator_command() -> None:
    exe = Path(sys.executable).with_name("truto-stream")
    if not exe.exists():
        pytest.skip("console script not installed")
    proc = subprocess.Popen(
        [str(exe), "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("listening on http://")
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_emulator_process_from_config() -> None:
    config = EmulatorConfig(
        seed=4,
        tokens=("p",),
        accounts=(
            AccountSpec(integration="cursor", tenant_id="t1", users=12, id="acc-1"),
            AccountSpec(integration="claude", tenant_id="t1", users=3, status="needs_reauth"),
        ),
    )
    with EmulatorProcess(config) as proc:
        assert proc.pid > 0
        body = _get(proc.url + "/unified/usage-metering/users?integrated_account_id=acc-1", "p")
        expected = list(Dataset(config).users("acc-1"))
        assert body["result"] == expected
        stats = _get(proc.url + "/_emulator/stats")
        assert stats["requests"]["total"] == 1


def test_emulator_process_bad_args_fail_fast() -> None:
    with pytest.raises(RuntimeError), EmulatorProcess(["--faults", "nonsense"]):
        pass


def test_scenario_file(tmp_path: Path) -> None:
    scenario = {
        "options": {"seed": 7, "latency_ms": 1, "faults": "502@0.5", "stream_framing": "ndjson"},
        "account_limit": 9,
        "tenants": [
            {
                "id": "acme",
                "accounts": [
                    {"integration": "claude", "users": 250},
                    {"integration": "openai", "users": 40, "status": "needs_reauth"},
                    {"integration": "cursor", "users": "10-20", "is_blocked": True},
                    {"integration": "claude", "users": [5, 5], "faults": "cut@#2x2", "id": "x1"},
                ],
            },
            {"id": "globex", "accounts": [{"integration": "cursor", "users": 1}]},
        ],
    }
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    config = load_scenario(path)
    assert config.seed == 7
    assert config.latency_ms == 1
    assert config.account_limit == 9
    assert config.stream_framing == "ndjson"
    ds = Dataset(config)
    assert [a.tenant_id for a in ds.accounts] == ["acme"] * 4 + ["globex"]
    assert ds.accounts[0].user_count == 250
    assert ds.accounts[1].status == "needs_reauth"
    assert ds.accounts[2].is_blocked
    assert 10 <= ds.accounts[2].user_count <= 20
    assert ds.accounts[3].id == "x1"
    assert ds.accounts[3].faults[0].kind == "cut"
    assert ds.accounts[0].faults[0].kind == "502"  # global faults
    # Command-line options win over the scenario.
    cfg, _ = config_from_args(["--scenario", str(path), "--seed", "8", "--users", "3-4"])
    assert (cfg.seed, cfg.latency_ms, cfg.users) == (8, 1, (3, 4))
    assert len(cfg.accounts) == 5


@pytest.mark.parametrize(
    "data",
    [
        {"nope": 1},
        {"tenants": [{"accounts": []}]},
        {"tenants": [{"id": "a", "accounts": [{"integration": "hubspot"}]}]},
        {"tenants": [{"id": "a", "accounts": [{"integration": "claude", "status": "x"}]}]},
        {"tenants": [{"id": "a", "accounts": [{"integration": "claude", "users": "a-b"}]}]},
        {"options": {"faults": "boom"}},
    ],
)
def test_bad_scenarios(data: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError):
        config_from_mapping(data)


def test_config_round_trips_through_scenario() -> None:
    config = EmulatorConfig(
        seed=3, users=(1, 9), retry_after="window", faults="500@#1",
        accounts=(AccountSpec(integration="openai", tenant_id="z", users=4, faults="loop"),),
    )  # fmt: skip
    assert config_from_mapping({"options": config.to_dict()}) == config


def test_cli_arguments_map_to_fields() -> None:
    cfg, extra = config_from_args(
        [
            "--host", "127.0.0.2", "--port", "0", "--token", "a", "--token", "b", "--seed", "5",
            "--accounts", "3", "--users", "7", "--latency-ms", "2", "--latency-jitter-ms", "1",
            "--rate-window-s", "0.5", "--stream-framing", "page", "--faults", "500@#1",
            "--token-limit", "10", "--account-limit", "2", "--retry-after", "reset",
            "--bandwidth", "5M", "--no-stats", "--stream-meta", "before", "--tenants", "4",
            "--needs-reauth", "1", "--connecting", "1", "--blocked", "1", "--no-uvloop",
            "--integrations", "claude,cursor", "--partial-response", "--admin-limit", "9",
            "--today", "2026-07-15",
        ]
    )  # fmt: skip
    assert cfg.tokens == ("a", "b")
    assert (cfg.host, cfg.seed, cfg.accounts_per_integration, cfg.users) == (
        "127.0.0.2",
        5,
        3,
        (7, 7),
    )
    assert (cfg.latency_ms, cfg.latency_jitter_ms, cfg.rate_window_s) == (2, 1, 0.5)
    assert (cfg.stream_framing, cfg.stream_meta, cfg.faults) == ("page", "before", "500@#1")
    assert (cfg.token_limit, cfg.account_limit, cfg.retry_after) == (10, 2, "reset")
    assert (cfg.bandwidth_bps, cfg.stats, cfg.tenants) == (5_000_000, False, 4)
    assert (cfg.needs_reauth_accounts, cfg.connecting_accounts, cfg.blocked_accounts) == (1, 1, 1)
    assert cfg.integrations == ("claude", "cursor")
    assert cfg.is_partial_response is True
    assert cfg.admin_default_limit == 9
    assert cfg.today == "2026-07-15"
    assert extra == {"no_uvloop": True}


def test_docs_scenario_example_is_valid() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"
    text = docs.read_text()
    block = text.split("## Scenario files", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    config = config_from_mapping(json.loads(block))
    ds = Dataset(config)
    assert [a.tenant_id for a in ds.accounts] == ["acme"] * 4 + ["globex"]
    assert config.account_limit == 20


def test_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "truto_stream.emulator", "--port", str(port)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert str(port) in lines[0]
    assert "in use" in lines[0]


@pytest.mark.parametrize("value", ["2026-02-30", "2026-7-15", "tomorrow"])
def test_bad_today_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        config_from_args(["--today", value])
    assert exc.value.code == 2
    assert "--today" in capsys.readouterr().err
