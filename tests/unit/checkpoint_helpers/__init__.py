"""Shared by the checkpoint crash test and its subprocess: a seeded stream of updates and a
reference model of what a checkpoint holds after any prefix of that stream."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["commit", "fail", "skip", "done", "reset"]
# What the store should hold per account: (state, cursor, records, pages, error).
State = tuple[str, str | None, int, int, str | None]

SWEEP_KEY = "usage-metering/users?crash-test&mode=paged"


@dataclass(frozen=True)
class Op:
    """One update of the stream: ``step`` is its position, from 0."""

    step: int
    kind: Kind
    account: str
    records: int = 0
    text: str | None = None  # the cursor of a commit, the reason of a fail/skip


def ops(seed: int, accounts: int) -> Iterator[Op]:
    """An endless, seeded stream of valid updates (never a commit for a done account)."""
    rng = random.Random(seed)
    names = [f"acct-{i:05d}" for i in range(accounts)]
    done: set[str] = set()
    step = 0
    while True:
        roll = rng.random()
        account = rng.choice(names)
        if roll < 0.03:
            done.discard(account)
            yield Op(step, "reset", account)
        elif account in done:
            continue  # no step consumed: steps number the updates actually made
        elif roll < 0.90:
            yield Op(step, "commit", account, rng.randint(0, 100), f"{account}:{step}")
        elif roll < 0.94:
            yield Op(step, "fail", account, text=f"HTTP 500 at step {step}")
        elif roll < 0.95:
            yield Op(step, "skip", account, text=f"skipped at step {step}")
        else:
            done.add(account)
            yield Op(step, "done", account)
        step += 1


def apply(model: dict[str, State], op: Op) -> None:
    """Apply ``op`` to the reference model, as the checkpoint should."""
    old = model.get(op.account)
    cursor, records, pages = (old[1], old[2], old[3]) if old else (None, 0, 0)
    if op.kind == "commit":
        model[op.account] = ("in_progress", op.text, records + op.records, pages + 1, None)
    elif op.kind == "reset":
        model[op.account] = ("in_progress", None, 0, 0, None)
    elif op.kind == "done":
        model[op.account] = ("done", cursor, records, pages, None)
    elif op.kind == "fail":
        model[op.account] = ("failed", cursor, records, pages, op.text)
    else:
        model[op.account] = ("skipped", cursor, records, pages, op.text)


V1_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE sweep (sweep_key TEXT NOT NULL, created_at REAL NOT NULL)",
    """CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('in_progress', 'done', 'failed', 'skipped')),
        cursor TEXT, records INTEGER NOT NULL CHECK (records >= 0),
        pages INTEGER NOT NULL CHECK (pages >= 0), error TEXT, updated_at REAL NOT NULL
    ) WITHOUT ROWID""",
)

V1Row = tuple[str, str, str | None, int, int, str | None]


def write_v1(path: Path, key: str, rows: list[V1Row]) -> None:
    """A checkpoint as truto-stream 1 wrote it (its schema, verbatim)."""
    conn = sqlite3.connect(path)
    for statement in V1_SCHEMA:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute("INSERT INTO sweep VALUES (?, 0)", (key,))
    conn.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, 1.5)", rows)
    conn.commit()
    conn.close()
