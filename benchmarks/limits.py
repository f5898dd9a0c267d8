"""Client rate budgets used by the scenarios."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["NON_BINDING_LIMITS"]

#: Budgets far above what a scenario sends (the emulator's limits are off there): the
#: client's limiter stays in the path, so its cost is measured, but it never waits.
NON_BINDING_LIMITS: Final[dict[str, Any]] = {
    "token_limit": 1_000_000,
    "account_limit": 1_000_000,
    "window": 10.0,
}
