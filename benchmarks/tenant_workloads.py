"""The workloads of the tenant-scale scenario (issue #15's rows) and their sizes.

Each workload has the issue's size (``--tenant-scale 1``); by default the scenario runs
them with account counts x 0.05 so that the whole scenario fits in a few minutes on a
2-core machine. Users per account, page sizes and the concurrencies of the memory row
never scale: they define what a row measures. Every workload gets accounts of its own
(its own tenant id, so ``AccountQuery(tenant_id=...)`` discovers exactly them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from truto_stream.emulator import AccountSpec

__all__ = [
    "FLOOR_USERS",
    "MEMORY_CONCURRENCIES",
    "WORKLOADS",
    "Sized",
    "Workload",
    "plan",
    "specs",
]

Mode = Literal["paged", "stream"]

#: The parse floors parse the bytes of at most this many users (a sample of the
#: workload's accounts, all of them at the default sizes): the floor is a rate, and the
#: sample keeps the floor's bodies in memory bounded at the issue's sizes.
FLOOR_USERS: Final = 200_000

#: Concurrencies of the memory row (issue #15: "at concurrency 2, 64 and 512"); the
#: library's default concurrency is measured too.
MEMORY_CONCURRENCIES: Final = (2, 64, 512)


@dataclass(frozen=True)
class Workload:
    """One row of the issue's table: accounts x users, paged (``limit`` per page) or stream.

    ``extras``: ``shard`` (also ``run_shard`` in one process), ``discover`` (also the same
    sweep with ``AccountQuery``), ``pyarrow`` (the columnar floor), ``no-floor``,
    ``memory`` (the concurrency row instead of the usual sides). ``versus_naive``: one of
    the six rows that must reach 1.1x the naive gather. ``smoke``: (accounts, users) in
    ``--smoke`` runs, which run only the workloads that have it (one per code path).
    """

    key: str
    accounts: int
    users: int
    mode: Mode
    limit: int | None = None
    framing: Literal["envelope", "ndjson"] = "envelope"
    extras: tuple[str, ...] = ()
    smoke: tuple[int, int] | None = None
    versus_naive: bool = True
    fixed_accounts: bool = False

    @property
    def tenant(self) -> str:
        return f"ts-{self.key}"


WORKLOADS: Final[tuple[Workload, ...]] = (
    Workload("paged-1000", 2_000, 1_000, "paged", 1_000, extras=("shard",), smoke=(2, 1_200)),
    Workload("paged-100", 2_000, 1_000, "paged", 100),
    Workload("stream-envelope", 200, 10_000, "stream"),
    Workload(
        "stream-ndjson",
        200,
        10_000,
        "stream",
        framing="ndjson",
        extras=("pyarrow",),
        smoke=(2, 300),
    ),
    Workload("many", 5_000, 100, "paged", 100),
    Workload(
        "many-ids", 20_000, 100, "paged", 100, extras=("discover", "no-floor"), smoke=(12, 100)
    ),
    # 520 accounts always (so that 512 walks run at once), users per account scaled.
    Workload(
        "memory",
        520,
        2_000,
        "stream",
        extras=("memory",),
        smoke=(8, 50),
        versus_naive=False,
        fixed_accounts=True,
    ),
)


@dataclass(frozen=True)
class Sized:
    """A workload at the size of this run."""

    workload: Workload
    accounts: int
    users: int
    smoke: bool = False

    @property
    def total(self) -> int:
        return self.accounts * self.users

    @property
    def ids(self) -> list[str]:
        return [f"{self.workload.key}-{i:05d}" for i in range(self.accounts)]

    @property
    def floor_accounts(self) -> int:
        """How many of the accounts the parse floors parse (see :data:`FLOOR_USERS`)."""
        return max(1, min(self.accounts, FLOOR_USERS // max(1, self.users)))

    def title(self) -> str:
        w = self.workload
        what = f"{self.accounts:,} accounts x {self.users:,} users"
        if w.mode == "paged":
            return f"paged, {what}, {w.limit:,} per page"
        return f"stream ({w.framing}), {what}"


def plan(*, scale: float, smoke: bool, rows: Sequence[str] = ()) -> list[Sized]:
    """The workloads at this run's size: smoke sizes (only those that have one), or the
    issue's account counts x ``scale``; only the ``rows`` named (by key), if any.

    The memory row keeps its 520 accounts and scales its users per account instead (at
    least 500, so that each stream response comes in more than one part).
    """
    chosen = [w for w in WORKLOADS if not rows or w.key in rows]
    if smoke:
        return [Sized(w, *w.smoke, smoke=True) for w in chosen if w.smoke is not None]
    return [
        Sized(w, w.accounts, max(500, round(w.users * scale)))
        if w.fixed_accounts
        else Sized(w, max(1, round(w.accounts * scale)), w.users)
        for w in chosen
    ]


def specs(work: Sized) -> tuple[AccountSpec, ...]:
    """The emulator accounts of a workload: active, its own tenant, readable ids."""
    return tuple(
        AccountSpec(integration="claude", tenant_id=work.workload.tenant, users=work.users, id=i)
        for i in work.ids
    )
