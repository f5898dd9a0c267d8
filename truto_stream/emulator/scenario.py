"""Scenario files: a JSON description of tenants, accounts and every emulator option.

The format, with an example, is in docs/emulator.md ("Scenario files"; a test checks that
the example loads).

``options`` takes any :class:`EmulatorConfig` field by name (option keys may also sit at the
top level). ``users`` is a number, ``"MIN-MAX"`` or ``[MIN, MAX]`` (per account: drawn
deterministically from the seed). A top-level ``accounts`` list of account objects with a
``tenant_id`` is accepted too. When tenants or accounts are given they replace the
generated inventory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import orjson

from truto_stream.emulator.config import AccountSpec, EmulatorConfig

__all__ = ["ScenarioError", "config_from_mapping", "load_scenario", "parse_users"]

_FIELDS = {f.name for f in dataclasses.fields(EmulatorConfig)}
_ACCOUNT_KEYS = {"integration", "users", "status", "is_blocked", "faults", "id", "tenant_id"}


class ScenarioError(ValueError):
    """A scenario file that does not describe a valid configuration."""


def parse_users(value: Any) -> tuple[int, int]:
    """``N``, ``"N"``, ``"MIN-MAX"`` or ``[MIN, MAX]`` as a (min, max) pair."""
    if isinstance(value, bool):
        raise ScenarioError(f"bad users value {value!r}")
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, str):
        lo, sep, hi = value.strip().partition("-")
        try:
            return (int(lo), int(hi)) if sep else (int(lo), int(lo))
        except ValueError:
            pass
    raise ScenarioError(f"bad users value {value!r} (N, 'MIN-MAX' or [MIN, MAX])")


def _account_users(seed: int, tenant: str, k: int, value: Any) -> int:
    lo, hi = parse_users(value)
    if hi < lo or lo < 0:
        raise ScenarioError(f"bad users range {value!r}")
    digest = hashlib.sha256(f"{seed}|scenario-users|{tenant}|{k}".encode()).digest()
    return lo + int.from_bytes(digest[:8], "big") % (hi - lo + 1)


def _account(seed: int, k: int, raw: Any, tenant: str | None) -> AccountSpec:
    if not isinstance(raw, dict):
        raise ScenarioError(f"account entries must be objects, got {raw!r}")
    unknown = set(raw) - _ACCOUNT_KEYS
    if unknown:
        raise ScenarioError(f"unknown account keys: {sorted(unknown)}")
    tenant_id = raw.get("tenant_id", tenant)
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ScenarioError("every account needs a tenant (tenants[].id or tenant_id)")
    try:
        return AccountSpec(
            integration=str(raw.get("integration", "")),
            tenant_id=tenant_id,
            users=_account_users(seed, tenant_id, k, raw.get("users", 100)),
            status=str(raw.get("status", "active")),
            is_blocked=bool(raw.get("is_blocked", False)),
            faults=raw.get("faults"),
            id=raw.get("id"),
        )
    except ValueError as exc:
        raise ScenarioError(str(exc)) from exc


def _option(name: str, value: Any) -> Any:
    if name == "users":
        return parse_users(value)
    if name in ("tokens", "integrations"):
        if isinstance(value, str):
            return (value,)
        return tuple(value)
    return value


def _options(data: dict[str, Any]) -> dict[str, Any]:
    """The option keys of a scenario (top level and ``options``), by field name."""
    raw_options = data.get("options", {})
    if not isinstance(raw_options, dict):
        raise ScenarioError("options must be an object")
    top = {k: v for k, v in data.items() if k not in ("options", "tenants", "accounts")}
    if isinstance(data.get("tenants"), int):
        top["tenants"] = data["tenants"]
    options: dict[str, Any] = {}
    for source in (top, raw_options):
        for name, value in source.items():
            key = name.replace("-", "_")
            if key not in _FIELDS:
                raise ScenarioError(f"unknown option {name!r}")
            options[key] = _option(key, value)
    return options


def _specs(data: dict[str, Any], accounts_raw: list[Any], seed: int) -> list[AccountSpec]:
    """Declared accounts: ``tenants[].accounts[]`` first, then the ``accounts`` list."""
    specs: list[AccountSpec] = []
    tenants = data.get("tenants")
    if isinstance(tenants, list):
        for tenant in tenants:
            if not isinstance(tenant, dict) or not isinstance(tenant.get("id"), str):
                raise ScenarioError("tenants[] entries need an 'id' string")
            for raw in tenant.get("accounts", []):
                specs.append(_account(seed, len(specs), raw, tenant["id"]))
    for raw in accounts_raw:
        if isinstance(raw, AccountSpec):
            specs.append(raw)
        else:
            specs.append(_account(seed, len(specs), raw, None))
    return specs


def config_from_mapping(data: dict[str, Any], base: EmulatorConfig | None = None) -> EmulatorConfig:
    """Build a config from a parsed scenario (``base`` supplies unset options)."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a JSON object")
    options = _options(data)
    accounts_raw = options.pop("accounts", None) or data.get("accounts") or []
    seed = int(options.get("seed", base.seed if base is not None else 0))
    specs = _specs(data, list(accounts_raw), seed)
    if specs:
        options["accounts"] = tuple(specs)
    try:
        if base is None:
            return EmulatorConfig(**options)
        return dataclasses.replace(base, **options)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(str(exc)) from exc


def load_scenario(path: str | Path, base: EmulatorConfig | None = None) -> EmulatorConfig:
    """Read a scenario JSON file into an :class:`EmulatorConfig`."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    return config_from_mapping(data, base)
