"""A dlt source for Truto's unified API (the optional ``truto-stream[dlt]`` extra).

::

    import dlt
    from truto_stream.dlt import truto_source

    pipeline = dlt.pipeline("truto", destination="duckdb", dataset_name="unified")
    pipeline.run(truto_source(dates=["2026-11-20"]))       # accounts: every active one

One resource per unified resource (``usage_metering_users`` for ``usage-metering/users``),
fed with Arrow tables (the schema of :mod:`truto_stream.arrow`) by our own sweep: its rate
budget and concurrency drive the requests, not dlt's parallelism (which shares no rate
limit). Tables are merged on ``(integrated_account_id, id, date)``: ``date`` is the day a
record describes in a sweep over dates, and ``""`` for a unit without a date (dlt's
primary-key columns cannot be null, and a table has one key).

Resuming: each resource keeps its sweep's per-unit progress (done, failed, or the page in
progress and how many of its records were delivered) in dlt's resource state, which dlt
commits atomically with the data it loads. A pipeline run that stopped before its sweep
ended (killed, failed, or cut by ``max_records``) is continued by the next run: done units
are not fetched again, the others resume where the loaded data ends. Once a sweep has ended
with every unit done, the next run starts a new sweep. Inside one run, a SQLite checkpoint
(a temporary one unless ``checkpoint=`` names a file) keeps the progress, as in any sweep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.typing import TSecretStrValue
from dlt.extract.resource import DltResource

from truto_stream._bridge import iterate_in_thread
from truto_stream.arrow import BATCH_ROWS
from truto_stream.checkpoint import Checkpoint, UnitProgress
from truto_stream.client import DEFAULT_BASE_URL, TOKEN_ENV, Client, RateLimits
from truto_stream.errors import ConfigurationError
from truto_stream.page import Mode
from truto_stream.schema import ACCOUNT_COLUMN, DATE_COLUMN, Projection
from truto_stream.sweep import AccountQuery, Sweep, SweepReport

__all__ = ["PRIMARY_KEY", "SweepOutcome", "resource_name", "truto_resources", "truto_source"]

#: The merge key of every table: a record of one account (on one day, for dated units).
PRIMARY_KEY: Final = (ACCOUNT_COLUMN, "id", DATE_COLUMN)
WriteDisposition = Literal["append", "replace", "merge"]
#: A unit without a date: its ``date`` in dlt tables (key columns cannot be null).
UNDATED: Final = ""


def resource_name(path: str) -> str:
    """The dlt resource (and table) name of ``model/resource``: ``usage_metering_users``."""
    return path.replace("-", "_").replace("/", "_")


@dataclass(frozen=True)
class _Spec:
    """What one resource sweeps (no token inside: it never reaches dlt's state or logs)."""

    model: str
    resource: str
    base_url: str
    accounts: AccountQuery | tuple[str, ...]
    params: Mapping[str, Any]
    dates: tuple[str, ...] | None
    mode: Mode
    concurrency: int
    rate_limits: RateLimits
    fields: Projection | None
    batch_rows: int
    max_records: int | None
    checkpoint: str | None
    allow_insecure: bool
    client_options: Mapping[str, Any] = field(default_factory=dict)


@dlt.source(name="truto", section="truto")
def truto_source(
    base_url: str = DEFAULT_BASE_URL,
    accounts: Sequence[str] | AccountQuery | None = None,
    params: Mapping[str, Any] | None = None,
    dates: Sequence[str] | None = None,
    token: TSecretStrValue | None = None,
    resources: Sequence[str] = ("usage-metering/users",),
    mode: Mode = "paged",
    concurrency: int = 64,
    fields: Sequence[str] | str | None = None,
    write_disposition: WriteDisposition = "merge",
    batch_rows: int = BATCH_ROWS,
    max_records: int | None = None,
    checkpoint: str | None = None,
    allow_insecure: bool = False,
) -> list[DltResource]:
    """Truto's unified list resources as dlt resources (one per ``model/resource``).

    - ``accounts``: integrated account ids, or an :class:`~truto_stream.AccountQuery`;
      default: every active account, discovered.
    - ``token``: dlt's secret ``sources.truto.token`` (``SOURCES__TRUTO__TOKEN``), else
      ``$TRUTO_API_TOKEN``.
    - ``params``, ``dates``, ``mode``, ``concurrency``, ``fields``: as in a sweep.
    - ``max_records``: stop each resource's sweep after about this many records (whole
      batches); the next pipeline run continues it. ``None``: sweep to the end.

    The token's rate budget (Truto's 500 requests / 10 s) is split evenly between the
    resources; :func:`truto_resources` takes other limits and reports each sweep's end.
    """
    return truto_resources(
        base_url=base_url,
        accounts=accounts,
        params=params,
        dates=dates,
        token=token,
        resources=resources,
        mode=mode,
        concurrency=concurrency,
        fields=fields,
        write_disposition=write_disposition,
        batch_rows=batch_rows,
        max_records=max_records,
        checkpoint=checkpoint,
        allow_insecure=allow_insecure,
    )


@dataclass
class SweepOutcome:
    """How a resource's sweep ended in one pipeline run.

    ``complete``: every unit done (the next run starts a new sweep); ``stopped``: cut by
    ``max_records`` (the next run continues it); ``records``: handed to dlt in this run.
    """

    resource: str
    report: SweepReport
    progress: list[UnitProgress]
    complete: bool
    stopped: bool
    records: int


def truto_resources(
    *,
    base_url: str = DEFAULT_BASE_URL,
    accounts: Sequence[str] | AccountQuery | None = None,
    params: Mapping[str, Any] | None = None,
    dates: Sequence[str] | None = None,
    token: str | None = None,
    resources: Sequence[str] = ("usage-metering/users",),
    mode: Mode = "paged",
    concurrency: int = 64,
    fields: Sequence[str] | str | None = None,
    write_disposition: WriteDisposition = "merge",
    batch_rows: int = BATCH_ROWS,
    max_records: int | None = None,
    checkpoint: str | None = None,
    rate_limits: RateLimits | None = None,
    allow_insecure: bool = False,
    on_outcome: Callable[[SweepOutcome], None] | None = None,
) -> list[DltResource]:
    """The resources of :func:`truto_source`, without dlt's configuration injection.

    ``rate_limits``: the token's budget, split evenly between the resources;
    ``on_outcome`` is called with each resource's :class:`SweepOutcome` as it ends.
    """
    secret = token or os.environ.get(TOKEN_ENV)
    if not secret:
        raise ConfigurationError(
            f"no API token: set dlt secret sources.truto.token or ${TOKEN_ENV}"
        )
    if batch_rows < 1:
        raise ConfigurationError("batch_rows must be at least 1")
    limits = rate_limits or RateLimits()
    share = dataclasses.replace(
        limits, token_limit=max(1, limits.token_limit // max(1, len(resources)))
    )
    projection = Projection.of(fields) if fields is not None else None
    chosen: AccountQuery | tuple[str, ...] = (
        accounts
        if isinstance(accounts, AccountQuery)
        else tuple(accounts)
        if accounts is not None
        else AccountQuery(status="active")
    )
    out = []
    for path in resources:
        model, _, resource = path.partition("/")
        if not model or not resource:
            raise ConfigurationError(f"resources are MODEL/RESOURCE paths, not {path!r}")
        spec = _Spec(
            model,
            resource,
            base_url,
            chosen,
            dict(params or {}),
            tuple(dates) if dates is not None else None,
            mode,
            concurrency,
            share,
            projection,
            batch_rows,
            max_records,
            checkpoint,
            allow_insecure,
        )
        out.append(_resource(spec, str(secret), write_disposition, on_outcome))
    return out


def _resource(
    spec: _Spec,
    token: str,
    write_disposition: WriteDisposition,
    on_outcome: Callable[[SweepOutcome], None] | None,
) -> DltResource:
    def rows() -> Generator[pa.Table, None, None]:
        # Runs inside dlt's extract, where the resource's state is at hand.
        outcome = yield from _run(spec, token, dlt.current.resource_state())
        if on_outcome is not None and outcome is not None:
            on_outcome(outcome)

    return dlt.resource(
        rows(),
        name=resource_name(f"{spec.model}/{spec.resource}"),
        primary_key=list(PRIMARY_KEY),
        write_disposition=write_disposition,
    )


# -- the resource's generator: resume from state, sweep, keep state ----------------------


def _run(
    spec: _Spec, token: str, state: dict[str, Any]
) -> Generator[pa.Table, None, SweepOutcome | None]:
    """Sweep, yielding Arrow tables; the units' progress ends in ``state``."""
    key_of_sweep = _sweep_identity(spec)
    if state.get("sweep") != key_of_sweep or state.get("complete"):
        state.clear()  # another sweep, or the last one ended: start a new one
    state["sweep"] = key_of_sweep
    stored = [_progress_of(item) for item in state.get("units", {}).values()]
    outcome: list[SweepOutcome] = []
    tables = iterate_in_thread(
        _producer(spec, token, stored, outcome),
        name=f"truto-stream dlt {spec.model}/{spec.resource}",
    )
    with contextlib.closing(tables):
        yield from tables
    if not outcome:  # pragma: no cover - the producer always reports, or raised
        return None
    ended = outcome[0]
    state["units"] = {p.unit_key: dataclasses.asdict(p) for p in ended.progress}
    state["complete"] = ended.complete
    return ended


def _sweep_identity(spec: _Spec) -> str:
    """What must match for a run to continue the last one's sweep (no token)."""
    accounts = (
        dataclasses.asdict(spec.accounts)
        if isinstance(spec.accounts, AccountQuery)
        else sorted(spec.accounts)
    )
    fields = list(spec.fields.fields) if spec.fields is not None else None
    parts = [spec.base_url, spec.model, spec.resource, spec.params, spec.dates, spec.mode]
    return repr([*parts, accounts, fields])


def _progress_of(item: Mapping[str, Any]) -> UnitProgress:
    names = {f.name for f in dataclasses.fields(UnitProgress)}
    return UnitProgress(**{k: v for k, v in item.items() if k in names})


def _producer(
    spec: _Spec, token: str, stored: list[UnitProgress], outcome: list[SweepOutcome]
) -> Callable[[Callable[[pa.Table], Awaitable[None]]], Awaitable[None]]:
    async def produce(put: Callable[[pa.Table], Awaitable[None]]) -> None:
        with _checkpoint_path(spec.checkpoint) as path:
            async with Client(
                token,
                base_url=spec.base_url,
                rate_limits=spec.rate_limits,
                allow_insecure=spec.allow_insecure,
            ) as client:
                outcome.append(await _sweep(client, spec, path, stored, put))

    return produce


@contextlib.contextmanager
def _checkpoint_path(given: str | None) -> Generator[str, None, None]:
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="truto-stream-dlt-") as tmp:
        yield str(Path(tmp) / "sweep.db")


async def _sweep(
    client: Client,
    spec: _Spec,
    path: str,
    stored: list[UnitProgress],
    put: Callable[[pa.Table], Awaitable[None]],
) -> SweepOutcome:
    checkpoint = await _seeded_checkpoint(path, client, spec, stored)
    try:
        sweep = client.sweep(
            spec.model,
            spec.resource,
            accounts=spec.accounts,
            params=spec.params,
            dates=spec.dates,
            mode=spec.mode,
            concurrency=spec.concurrency,
            fields=spec.fields,
            commits="manual",
            checkpoint=checkpoint,
        )
        sent = await _feed(sweep, spec, put)
        progress = checkpoint.all()
    finally:
        await checkpoint.aclose()
    report = sweep.report
    stopped = spec.max_records is not None and sent >= spec.max_records
    done = all(p.state in ("done", "skipped") for p in progress)
    path = f"{spec.model}/{spec.resource}"
    return SweepOutcome(path, report, progress, not stopped and done and report.ok, stopped, sent)


async def _feed(sweep: Sweep, spec: _Spec, put: Callable[[pa.Table], Awaitable[None]]) -> int:
    """Hand the sweep's records to dlt as tables (until ``max_records``); how many."""
    sent = 0
    async with sweep:
        async with contextlib.aclosing(sweep.arrow_batches(batch_rows=spec.batch_rows)) as batches:
            async for batch in batches:
                await put(_table(batch))
                # dlt holds the table (committed with the state at the end of the run).
                sweep.commit()
                sent += batch.num_rows
                if spec.max_records is not None and sent >= spec.max_records:
                    break
    return sent


async def _seeded_checkpoint(
    path: str, client: Client, spec: _Spec, stored: list[UnitProgress]
) -> Checkpoint:
    """The sweep's checkpoint, holding the progress dlt's state kept from the last run."""
    probe = client.sweep(
        spec.model,
        spec.resource,
        accounts=spec.accounts,
        params=spec.params,
        dates=spec.dates,
        mode=spec.mode,
        fields=spec.fields,
    )
    checkpoint = await Checkpoint.open(path, probe.sweep_key)
    for progress in stored:
        if checkpoint.get(progress.unit_key) is None:
            checkpoint.put(progress)
    await checkpoint.flush()
    return checkpoint


def _keyed(schema: pa.Schema) -> pa.Schema:
    """The schema with its key columns not nullable (as dlt declares primary keys)."""
    fields = [f.with_nullable(f.name not in PRIMARY_KEY) for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def _table(batch: pa.RecordBatch) -> pa.Table:
    """A batch as dlt gets it: a ``date`` column without nulls, key columns not nullable."""
    table = pa.Table.from_batches([batch])
    if DATE_COLUMN in table.column_names:
        index = table.column_names.index(DATE_COLUMN)
        dates = pc.fill_null(table.column(index), UNDATED)
        table = table.set_column(index, DATE_COLUMN, dates)
    else:
        undated = pa.array([UNDATED] * table.num_rows, pa.string())
        table = table.add_column(1, DATE_COLUMN, undated)
    return table.cast(_keyed(table.schema))
