"""Sweeping one list resource across many integrated accounts, as one async stream.

Shape (all tasks owned, nothing outlives the sweep)::

    client task group
    └── coordinator                      (started when the sweep opens)
        ├── planner                      plans the units (discovery, lookups, query
        │                                schemas), feeding each account's to the work
        │                                queue as soon as the account is found
        └── worker x concurrency         walk one unit at a time, emit page parts
                    │
                    ▼  bounded by a record budget (backpressure: workers wait)
              the caller's ``async for``  commits each page part to the checkpoint:
                                         once pulled past (``commits="auto"``), or when
                                         the caller says it is durable (``"manual"``)

The work is a :class:`~truto_stream.plan.Plan`: a list of units
(:class:`~truto_stream.unit.Unit`: one per account, or one per (account, day) for an
integration that takes ``date``), each with the page size chosen for its integration;
a sweep that plans for itself offers each account's units as soon as the account is
found (:mod:`truto_stream.plan.rotation`), and has its collected plan once planning
ends. The checkpoint keeps each unit's page in progress and how many of its records were
delivered, so a resume skips exactly those.

Fairness comes from the hand-off: when the buffer is full, waiting workers are admitted
in arrival order, so one huge account cannot starve the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Final, Literal, Self

import anyio
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream

from truto_stream import _log
from truto_stream._collector import CollectorTuning
from truto_stream._coverage import Coverage
from truto_stream._decode import Framing
from truto_stream._fetch import ListRequest, WalkStats
from truto_stream._gate import RecordGate
from truto_stream._parse import read_bytes_for
from truto_stream._ramp import RAMP_START, Ramp, cpu_wait
from truto_stream._resume import record_key
from truto_stream._runtime import Producer, Runtime
from truto_stream._slack import Slack
from truto_stream._streams import ChannelReceiver, ChannelSender, channel
from truto_stream.accounts import AccountQuery, Accounts
from truto_stream.checkpoint import Checkpoint, ProgressState, UnitProgress
from truto_stream.errors import ConfigurationError, TrutoError
from truto_stream.page import Mode, Page
from truto_stream.plan.assemble import PlanBuilder
from truto_stream.plan.dates import Dates
from truto_stream.plan.estimate import DEFAULT_RECORDS_PER_UNIT, RateCeiling
from truto_stream.plan.model import Plan, SkippedAccount, account_units
from truto_stream.plan.planner import PlanRequest, builder, check, finish, planning
from truto_stream.plan.resolve import AlreadyFinished, Event, Found
from truto_stream.plan.rotation import ROTATION_PER_WORKER, Rotation
from truto_stream.schema import Projection, as_projection, known_model
from truto_stream.unit import Unit, unit_key

__all__ = [
    "AccountQuery",
    "AccountReport",
    "Batch",
    "Sweep",
    "SweepItem",
    "SweepReport",
    "sweep_key",
]

AccountState = Literal["pending", "running", "done", "failed", "skipped"]
OnError = Literal["continue", "raise"]
#: When a page part counts as delivered in the checkpoint: once the caller has pulled past
#: it (``"auto"``), or when the caller calls :meth:`Sweep.commit` (``"manual"``).
Commits = Literal["auto", "manual"]


def sweep_key(
    base_url: str, model: str, resource: str, params: Mapping[str, Any], mode: Mode
) -> str:
    """Identifies what is swept, so a checkpoint is never resumed by another sweep."""
    what = {"base_url": base_url, "path": f"{model}/{resource}", "params": params, "mode": mode}
    digest = hashlib.sha256(orjson.dumps(what, option=orjson.OPT_SORT_KEYS, default=str))
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class SweepItem:
    """One record of a sweep, with the account and the page part it came from."""

    account_id: str
    record: dict[str, Any]
    page: Page
    unit: Unit | None = None

    @property
    def date(self) -> str | None:
        """The day the record describes (its unit's date; None when undated)."""
        return self.unit.date if self.unit is not None else None


class Batch(tuple[str, list[dict[str, Any]]]):
    """``(account_id, records)`` from one page part, and the :attr:`unit` they belong to.

    Unpacks as the pair (``for account_id, records in sweep.batches()``); ``unit.date``
    (also :attr:`date`) is the day the records describe.
    """

    unit: Unit

    def __new__(cls, account_id: str, records: list[dict[str, Any]], unit: Unit) -> Batch:
        batch = super().__new__(cls, (account_id, records))
        batch.unit = unit
        return batch

    @property
    def account_id(self) -> str:
        return self[0]

    @property
    def records(self) -> list[dict[str, Any]]:
        return self[1]

    @property
    def date(self) -> str | None:
        return self.unit.date


@dataclass
class AccountReport:
    """What a sweep did with one account and why it stopped.

    ``error`` says why an account failed or was skipped; ``note`` says anything else
    worth knowing (e.g. that a checkpoint had it finished already);
    ``retry_after_over_cap`` is the longest ``Retry-After`` a server asked for beyond
    ``RetryPolicy.max_retry_after`` (the client waited only that long). One report per
    unit: ``unit_key`` and ``date`` say which (with a unit per account, the key is the id).
    ``resumed_skip`` records of the page at ``resumed_from`` were skipped on resume;
    ``duplicates_possible`` counts records delivered again because that page had changed.
    ``tenant_id`` and ``integration`` are known when the plan knows the account.
    """

    account_id: str
    state: AccountState = "pending"
    records: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    bytes: int = 0
    seconds: float = 0.0
    resumed_from: str | None = None
    error: str | None = None
    error_type: str | None = None
    note: str | None = None
    retry_after_over_cap: float | None = None
    unit_key: str | None = None
    date: str | None = None
    resumed_skip: int = 0
    duplicates_possible: int = 0
    tenant_id: str | None = None
    integration: str | None = None


@dataclass
class SweepReport:
    """Per-account outcome of a sweep; ``ok`` when no account failed.

    ``discovery`` counts the walk of ``GET /integrated-account`` (when the accounts are
    discovered); ``retry_after_over_cap`` is the longest ``Retry-After`` asked beyond
    ``RetryPolicy.max_retry_after`` anywhere in the sweep, discovery included (whose
    429s pause the whole token): the client waited only ``max_retry_after``. ``discovery``
    counts every request of the plan (account listing, lookups, query schemas);
    ``warnings`` are the plan's (discovery that matched nothing, a ``limit`` clamped ...);
    ``plan`` is the plan itself (:meth:`Plan.to_dict`), once planning has ended.
    ``started_at`` and ``finished_at`` are unix times (ISO 8601 in :meth:`to_dict`).
    ``walks`` is the most walks the sweep ran at once: its ``concurrency``, or with an
    adaptive default (stream sweeps) the walks it added on demand up to that cap.
    """

    accounts: dict[str, AccountReport] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    discovery: WalkStats = field(default_factory=WalkStats)
    warnings: list[str] = field(default_factory=list)
    plan: dict[str, Any] | None = None
    walks: int = 0

    @property
    def retry_after_over_cap(self) -> float | None:
        asked = [r.retry_after_over_cap for r in self.accounts.values()]
        asked.append(self.discovery.retry_after_over_cap)
        return max((a for a in asked if a is not None), default=None)

    def count(self, state: AccountState) -> int:
        return sum(1 for report in self.accounts.values() if report.state == state)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    @property
    def records(self) -> int:
        return sum(report.records for report in self.accounts.values())

    def failures(self) -> list[AccountReport]:
        return [report for report in self.accounts.values() if report.state == "failed"]

    def to_dict(self) -> dict[str, Any]:
        totals = {
            key: sum(getattr(r, key) for r in self.accounts.values())
            for key in (
                "records",
                "pages",
                "requests",
                "retries",
                "rate_limited",
                "bytes",
                "duplicates_possible",
            )
        }
        states = {s: self.count(s) for s in ("done", "failed", "skipped", "pending", "running")}
        return {
            "started_at": iso_time(self.started_at),
            "finished_at": iso_time(self.finished_at),
            "totals": totals,
            "states": states,
            "retry_after_over_cap": self.retry_after_over_cap,
            "walks": self.walks,
            "discovery": asdict(self.discovery),
            "warnings": list(self.warnings),
            "plan": self.plan,
            "accounts": [asdict(report) for report in self.accounts.values()],
        }


def iso_time(t: float | None) -> str | None:
    """Unix time as ISO 8601 UTC to the millisecond: ``2026-11-29T01:40:00.123Z``."""
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass(frozen=True, slots=True)
class _Part:
    unit: Unit
    page: Page


@dataclass(frozen=True, slots=True)
class _UnitFinished:
    unit: Unit
    error: TrutoError | None


@dataclass(frozen=True, slots=True)
class _Skipped:
    unit: Unit
    reason: str


_Event = _Part | _UnitFinished | _Skipped


#: A sweep's ``concurrency`` unless given, per mode. A page is a short request, and 64
#: walks at once hide its latency. A stream is one long response whose parts are large
#: (a read's worth of records each): measured at tenant scale, 64 streams at once used
#: no less CPU per record than 2 and held 30-60 MB more (docs/benchmarks.md, scenario
#: 7). Raise it for slow upstreams.
DEFAULT_CONCURRENCY: Final[Mapping[Mode, int]] = {"paged": 64, "stream": 8}
#: Modes whose default concurrency is a cap reached on demand (:mod:`truto_stream._ramp`):
#: a stream sweep starts with 2 walks and doubles them only while the caller waits on an
#: empty buffer, the process idles and the last step paid off. Against a server
#: that keeps up, more streams are not faster (issue #15: 8 ran 0.82-1.10x of 2).
ADAPTIVE_MODES: Final = frozenset({"stream"})

#: The most list-request templates a sweep keeps (one per integration and date).
_MAX_TEMPLATES: Final = 256
#: A template, with the unit parameters it was built from.
_Template = tuple[Mapping[str, Any], ListRequest]

#: The states a finished unit has in a checkpoint (a rerun does not fetch it again).
_ENDED = ("done", "skipped")


def _ceiling(runtime: Runtime) -> RateCeiling:
    """The rate limits a plan's time floor is computed for: the client's (Truto's if off)."""
    limiter = runtime.fetcher.limiter
    if limiter is None:
        return RateCeiling()
    budget = limiter.budget
    return RateCeiling(budget.token.limit, budget.account_limit, budget.window)


async def _next_event(
    found: MemoryObjectReceiveStream[Event], rotation: Rotation
) -> Event | Literal["offer"] | None:
    """The next planning event; ``"offer"`` when a unit is to be offered first; None: done.

    Events are taken while they are ready and the rotation has room; a unit is offered
    when none is ready (workers never wait on planning that has units in hand) or when
    the rotation is full (planning waits for the workers).
    """
    if rotation.full:
        return "offer"
    try:
        try:
            return found.receive_nowait()  # no trip through the event loop when ready
        except anyio.WouldBlock:
            if rotation:
                return "offer"
        return await found.receive()
    except anyio.EndOfStream:
        return None


def _fold(report: AccountReport, stats: WalkStats, started: float) -> None:
    """Copy a walk's counters into its unit's report (each unit is walked once)."""
    report.pages = stats.pages
    report.requests = stats.requests
    report.retries = stats.retries
    report.rate_limited = stats.rate_limited
    report.bytes = stats.bytes
    report.retry_after_over_cap = stats.retry_after_over_cap
    report.duplicates_possible = stats.redelivered
    report.seconds = time.monotonic() - started


def _after(progress: UnitProgress, page: Page) -> UnitProgress:
    """A unit's progress once ``page`` (a part) is delivered too."""
    count = len(page.records)
    if page.final:
        after = progress.after_page(page.next_cursor, count)
        # A final part without a next cursor ends the walk: the unit is complete.
        return after.ended("done") if page.next_cursor is None else after
    last = record_key(page.records[-1])
    return progress.after_part(page.cursor, page.offset + count, last, count)


def _split(page: Page, most: int) -> list[Page]:
    """Cut a page into parts of at most ``most`` records (only the last one is final)."""
    records = page.records
    if len(records) <= most:
        return [page]
    chunks = [records[i : i + most] for i in range(0, len(records), most)]
    last = len(chunks) - 1
    return [
        dataclasses.replace(
            page,
            records=chunk,
            final=page.final and i == last,
            offset=page.offset + i * most,
            next_cursor=page.next_cursor if i == last else None,
        )
        for i, chunk in enumerate(chunks)
    ]


class Sweep:
    """A running sweep. Open it with ``async with client.sweep(...)`` (or iterate it).

    Iterate it for :class:`SweepItem` records, or use :meth:`pages` / :meth:`batches`.
    ``report`` is live while the sweep runs and final after it ends.

    With a checkpoint, each page part counts as delivered once the caller has pulled past
    it (``commits="auto"``: at least once across a crash), or once the caller says so with
    :meth:`commit` (``commits="manual"``: a sink that stores what :meth:`commit` hands it
    and resumes from :attr:`sink_position` gets every record exactly once).

    The sweep runs a :class:`~truto_stream.plan.Plan`: given (``plan=``, from
    ``client.plan(...)``), or made while the sweep runs from ``accounts``, ``params``,
    ``dates``: each account's units are walked as soon as planning finds it, and
    :attr:`plan` is set once planning ends.
    """

    def __init__(
        self,
        runtime: Runtime,
        model: str,
        resource: str,
        *,
        accounts: Accounts | None = None,
        params: Mapping[str, Any] | None = None,
        dates: Dates | None = None,
        today: str | dt.date | None = None,
        plan: Plan | None = None,
        assume_records: int = DEFAULT_RECORDS_PER_UNIT,
        mode: Mode = "paged",
        framing: Framing | str | None = None,
        concurrency: int | None = None,
        adaptive: bool | None = None,
        buffer_records: int = 10_000,
        checkpoint: str | Checkpoint | None = None,
        commits: Commits = "auto",
        on_error: OnError = "continue",
        max_pages: int | None = None,
        tune_gc: bool = False,
        fields: Projection | Iterable[str] | str | None = None,
        as_text: bool = False,
    ) -> None:
        if as_text and fields is not None:
            raise ConfigurationError("as_text hands records on as sent: not with fields")
        # A given concurrency is the walks run; the default is a cap (adaptive modes).
        # adaptive=True/False says so in any mode.
        if adaptive is None:
            adaptive = concurrency is None and mode in ADAPTIVE_MODES
        if concurrency is None:
            concurrency = DEFAULT_CONCURRENCY.get(mode, DEFAULT_CONCURRENCY["paged"])
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if buffer_records < 1:
            raise ConfigurationError("buffer_records must be at least 1")
        if on_error not in ("continue", "raise"):
            raise ConfigurationError("on_error must be 'continue' or 'raise'")
        if commits not in ("auto", "manual"):
            raise ConfigurationError("commits must be 'auto' or 'manual'")
        self._runtime = runtime
        self._model = model
        self._resource = resource
        self._fields = as_projection(fields, known_model(model, resource))
        if self._fields is not None and params is not None:
            # The server leaves the other fields out; the key tells projections apart.
            params = self._fields.query(params, known_model(model, resource))
        self._params = dict(params or {})
        self._mode: Mode = mode
        self._base_params = dict(self._params)
        self._plan = plan
        self._planned = anyio.Event()
        self._framing = Framing(framing) if isinstance(framing, str) else framing
        self._concurrency = concurrency
        self._ramp = Ramp(RAMP_START if adaptive else concurrency, concurrency)
        self._adaptive = not self._ramp.settled
        self._cpu_waited = 0.0  # cpu_wait() when the ramp's period began
        # Walks running, and a wake-up for the coordinator when more are wanted.
        self._walks = 0
        self._more_walks = anyio.Event()
        self._work: ChannelReceiver[Unit] | None = None
        # Many walks at once read less each: what they hold while waiting stays bounded.
        # Sized for the cap, so a ramping sweep's reads stay within the same bound.
        self._read_bytes = read_bytes_for(concurrency)
        self._checkpoint_arg = checkpoint
        self._commits: Commits = commits
        self._on_error = on_error
        self._max_pages = max_pages
        self._tune_gc = tune_gc
        self._collector = CollectorTuning()
        # Paged walks starting units on a busy process send their requests in batches of
        # up to half of them (see truto_stream._gate); a stream's units are few and long.
        batch = concurrency // 2 if mode == "paged" else 1
        self._gate = RecordGate(buffer_records, start_batch=batch)
        self._slack = Slack()  # does the process idle while the caller waits?
        self._checkpoint: Checkpoint | None = None
        self._producer: Producer[_Event] | None = None
        self._iterating = False
        # commits="manual": what was handed out since the last commit(), per unit.
        self._handed: dict[str, UnitProgress] = {}
        # arrow_batches(): parts held in a batch not yet handed out, and the latest
        # progress of each unit counting them (see _coverage).
        self._held: Coverage[UnitProgress] | None = None
        # Units started from now on hand their records on as JSON text (also set by
        # arrow_batches, whose schema is then the projection).
        self._as_text = as_text
        self._held_progress: dict[str, UnitProgress] = {}
        self._closed = False
        self._report = SweepReport()
        # Walks in progress: their counters are folded into the report when it is read.
        self._live: dict[str, tuple[WalkStats, float]] = {}
        self._request: PlanRequest | None = None
        # List requests shared by units that differ only by account (_unit_request);
        # built on the base parameters, so emptied when a plan replaces them.
        self._templates: dict[tuple[str, str | None, bool], _Template] = {}
        if plan is None:
            if accounts is None:
                raise ConfigurationError("sweep needs accounts= (or a plan=)")
            self._request = check(
                model,
                resource,
                accounts=accounts,
                params=params,
                mode=mode,
                dates=dates,
                today=today,
                assume_records=assume_records,
                ceiling=_ceiling(runtime),
            )
        elif accounts is not None or dates is not None or params is not None:
            raise ConfigurationError("with plan=, accounts, dates and params come from the plan")
        elif (plan.model, plan.resource, plan.mode) != (model, resource, mode):
            raise ConfigurationError(
                f"the plan is for {plan.model}/{plan.resource} ({plan.mode}), "
                f"not {model}/{resource} ({mode})"
            )
        else:
            self._params = dict(plan.params)
            self._set_plan(plan)
        # What the sweep covers, for its log line: the query, or the accounts given.
        self._accounts: AccountQuery | list[Any] = (
            accounts
            if isinstance(accounts, AccountQuery)
            else list(self._request.source.given)
            if self._request is not None
            else [a.account_id for a in plan.accounts]
            if plan is not None
            else []
        )

    @property
    def sweep_key(self) -> str:
        """Identifies what is swept, so a checkpoint is never resumed by another sweep."""
        return sweep_key(
            self._runtime.base_url, self._model, self._resource, self._params, self._mode
        )

    @property
    def report(self) -> SweepReport:
        """Per-unit outcome so far: live while the sweep runs, final after it ends."""
        for key, (stats, started) in self._live.items():
            _fold(self._report.accounts[key], stats, started)
        return self._report

    @property
    def plan(self) -> Plan | None:
        """The plan the sweep runs (None until planning has ended; units run before)."""
        return self._plan

    async def wait_plan(self) -> Plan:
        """Wait until the plan is made (it never is when planning fails) and return it."""
        await self._planned.wait()
        assert self._plan is not None
        return self._plan

    @property
    def dated(self) -> bool:
        """Whether the sweep covers dates (``dates=``): units per (account, day)."""
        if self._plan is not None:
            return self._plan.dates is not None
        return self._request is not None and self._request.dates is not None

    @property
    def budget_waiting(self) -> tuple[int, int]:
        """Requests waiting on the rate budget now: ``(per-token, per-account)``."""
        limiter = self._runtime.fetcher.limiter
        return limiter.waiting if limiter is not None else (0, 0)

    def _set_plan(self, plan: Plan) -> None:
        self._plan = plan
        # The sweep's own parameters, as the plan kept them (limit is set per unit).
        self._base_params = dict(plan.params)
        self._templates.clear()
        self._report.warnings = list(plan.warnings)
        self._report.plan = plan.to_dict()
        self._planned.set()

    @property
    def concurrency(self) -> int:
        """The most units the sweep walks at once (``DEFAULT_CONCURRENCY`` unless given).

        Given, it is the walks run; by default in an adaptive mode (``ADAPTIVE_MODES``),
        or with ``adaptive=True``, it is the cap of walks added on demand
        (:attr:`SweepReport.walks` says how many).
        """
        return self._concurrency

    @property
    def adaptive(self) -> bool:
        """Whether walks are added on demand, up to :attr:`concurrency` (by default in
        stream mode; ``adaptive=True`` in any mode; never with a cap of 2 or less)."""
        return self._adaptive

    @property
    def peak_buffered_records(self) -> int:
        """The most records ever buffered between the workers and the caller."""
        return self._gate.peak

    @property
    def sink_position(self) -> Any:
        """The position the last :meth:`commit` stored (in this run or an earlier one)."""
        return self._checkpoint.sink_position if self._checkpoint is not None else None

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._runtime.task_group is None:
            raise ConfigurationError("the client is not open: use `async with Client(...)`")
        if self._producer is not None:
            raise ConfigurationError("a sweep runs once; create a new one to run again")
        given = self._checkpoint_arg
        if isinstance(given, Checkpoint):
            if given.sweep_key != self.sweep_key:
                raise ConfigurationError(
                    f"checkpoint {given.path} was opened for another sweep (resource,"
                    " parameters and mode must match)"
                )
            self._checkpoint = given
        elif given is not None:
            self._checkpoint = await Checkpoint.open(given, self.sweep_key)
        if self._tune_gc:
            self._collector.start()  # undone by aclose(), or below if the start fails
        try:
            # Unbounded in items: the record gate bounds what is buffered, and markers are
            # tiny.
            self._producer = await self._runtime.start(
                self._run,
                buffer=float("inf"),
                name=f"truto_stream sweep {self._model}/{self._resource}",
            )
        except BaseException:
            self._collector.stop()
            raise
        _log.sweep_started(
            path=f"{self._model}/{self._resource}",
            accounts=self._accounts,
            concurrency=self._concurrency,
            checkpoint=self._checkpoint is not None,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every worker, close every connection, flush the checkpoint.

        A checkpoint the sweep opened itself is closed; one handed in as a
        :class:`~truto_stream.checkpoint.Checkpoint` is flushed and left open.
        """
        with anyio.CancelScope(shield=True):
            if self._producer is not None:
                await self._producer.stop()
            self._collector.stop()
            if self._report.finished_at is None:
                self._report.finished_at = time.time()
            if self._producer is not None and not self._closed:
                self._closed = True
                _log.sweep_finished(path=f"{self._model}/{self._resource}", report=self._report)
            if self._checkpoint is None:
                return
            if self._checkpoint is self._checkpoint_arg:
                await self._checkpoint.flush()
            else:
                await self._checkpoint.aclose()

    async def wait_closed(self) -> None:
        """Wait until every task of the sweep has ended.

        After a plain ``async for`` is broken out of, asyncio closes the loop's generator
        in a task of its own, a moment later; this waits for that to finish.
        """
        if self._producer is not None:
            await self._producer.wait()

    # -- manual commits ------------------------------------------------------------------

    def commit(self, position: Any = None) -> None:
        """Everything this sweep has handed you is durable: record it, with ``position``.

        Only with ``commits="manual"``. Call it when every page part handed out so far
        (by :meth:`pages` or :meth:`batches`) is safe in your sink; ``position`` is your
        sink's own resume point (anything JSON can encode, e.g. a byte offset), stored in
        the same checkpoint transaction as the progress it covers and handed back by
        :attr:`sink_position` in the next run. Synchronous and cheap: the checkpoint's
        flusher writes it within its interval (or :meth:`aclose` does).
        """
        if self._commits != "manual":
            raise ConfigurationError("commit() needs a sweep opened with commits='manual'")
        checkpoint = self._checkpoint
        if checkpoint is None:
            return
        # No await from here to the end: the progress and the position land in one flush.
        for progress in self._handed.values():
            checkpoint.put(progress)
        self._handed.clear()
        checkpoint.put_sink(position)

    # -- iteration -----------------------------------------------------------------------

    async def pages(self) -> AsyncGenerator[Page, None]:
        """Yield page parts from every unit, interleaved as they arrive."""
        async with contextlib.aclosing(self._parts()) as parts:
            async for _, page in parts:
                yield page

    async def _parts(self) -> AsyncGenerator[tuple[Unit, Page], None]:
        if self._producer is None:
            raise ConfigurationError("open the sweep first: `async with client.sweep(...)`")
        if self._iterating:
            raise ConfigurationError("a sweep can be iterated once")
        self._iterating = True
        manual = self._commits == "manual"
        held = self._held is not None
        # The producer's error (discovery failed, or a bug) is raised after its events.
        while (event := await self._next_event(self._producer)) is not None:
            if isinstance(event, _Part):
                page = event.page
                if manual or held:
                    self._handing(event.unit, page)
                yield event.unit, page
                # The caller asked for more: it has pulled past this part.
                self._gate.release(len(page.records))
                self._consumed(event.unit, page, record=not (manual or held))
            elif isinstance(event, _Skipped):
                self._skipped(event)
            else:
                self._finished(event)

    async def _next_event(self, producer: Producer[_Event]) -> _Event | None:
        """The producer's next event; the end of a wait on an empty buffer ticks the
        gate's slack (see :mod:`truto_stream._slack`) and, while walks may be added, the
        wait is timed for the ramp (:mod:`truto_stream._ramp`)."""
        gate, ramp = self._gate, self._ramp
        if gate.buffered:  # a part is there: no wait
            event = await producer.next()
        else:
            # CPU time is a system call here (~2.4 µs): read only for the ramp, on a
            # sample of the waits (_ramp.CPU_SAMPLE).
            timed = not ramp.settled
            if timed:
                wall = time.perf_counter()
                cpu = time.process_time() if ramp.sample() else None
            if producer.queued:
                # An event already there (a unit's end after its last part) is no wait:
                # telling the gate would wake a walk at its end, to find no room.
                event = await producer.next()
            else:
                gate.set_caller_waiting(True)
                try:
                    event = await producer.next()
                finally:
                    gate.set_caller_waiting(False)
            now = time.perf_counter()
            gate.ahead = self._slack.tick(now)
            if timed:
                ramp.waited(now - wall, None if cpu is None else time.process_time() - cpu)
                if ramp.due(now) and self._judge(now):
                    self._more_walks.set()
        if isinstance(event, _Part) and not ramp.settled:
            ramp.delivered(len(event.page.records))
        return event

    def _judge(self, now: float) -> bool:
        """End the ramp's period: True when it wants another number of walks."""
        queued = self._work is not None and self._work.statistics().current_buffer_used > 0
        waited, self._cpu_waited = self._cpu_waited, cpu_wait()
        return self._ramp.judge(now, queued=queued, delayed=self._cpu_waited - waited)

    async def batches(self) -> AsyncGenerator[Batch, None]:
        """Yield ``(account_id, records)`` batches: the cheapest way to consume a sweep.

        Each is a :class:`Batch`: ``batch.unit`` (and ``batch.date``) say which unit.
        """
        async with contextlib.aclosing(self._parts()) as parts:
            async for unit, page in parts:
                if page.records:
                    yield Batch(unit.account_id, page.records, unit)

    async def arrow_batches(self, *, batch_rows: int = 10_000) -> AsyncGenerator[Any, None]:
        """Yield the records as ``pyarrow.RecordBatch``es of at most ``batch_rows`` rows.

        The schema is fixed for a known resource (:mod:`truto_stream.arrow`, projected by
        ``fields``): ``integrated_account_id``, ``date`` in a sweep over dates, then the
        model's fields. With a checkpoint, a page part counts as delivered once every one of
        its records was in a batch you pulled past (``commits="auto"``), or in a batch
        handed out before :meth:`commit` (``"manual"``). Needs the ``arrow`` extra.
        """
        from truto_stream.arrow import RecordBatcher, model_schema

        dated = self._dated()
        schema = model_schema(self._model, self._resource, dated=dated, fields=self._fields)
        batcher = RecordBatcher(schema, batch_rows=batch_rows, dated=dated)
        # A known resource's batches are built from the records' texts, without dicts
        # (units already under way hand on dicts: the batcher takes both).
        self._as_text = schema is not None
        if self._checkpoint is not None:
            self._held = Coverage[UnitProgress]()
        async with contextlib.aclosing(self._parts()) as parts:
            async for unit, page in parts:
                for batch in batcher.add(unit.account_id, page.records, unit.date):
                    async for out in self._handing_batch(batch):
                        yield out
        last = batcher.flush()
        if last is not None:
            async for out in self._handing_batch(last):
                yield out
        self._deliver(0)  # units that ended with no record after the last batch

    async def _handing_batch(self, batch: Any) -> AsyncGenerator[Any, None]:
        """Yield one Arrow batch; the parts it completes are handed out as it is yielded
        (``commits="manual"``: the caller's next commit() covers them), or delivered once
        the caller pulls past it (auto)."""
        manual = self._commits == "manual"
        if manual:
            self._deliver(batch.num_rows)
        yield batch
        if not manual:
            self._deliver(batch.num_rows)

    def _dated(self) -> bool:
        """Do the records carry a date (a sweep over dates)?"""
        if self._plan is not None:
            return self._plan.dates is not None
        return self._request is not None and self._request.dates is not None

    def _deliver(self, rows: int) -> None:
        """``rows`` more were handed out in Arrow batches: the parts now wholly out are
        delivered (auto commits) or handed out (manual)."""
        if self._held is None:
            return
        for progress in self._held.emitted(rows).values():
            if self._commits == "manual":
                self._handed[progress.unit_key] = progress
            elif self._checkpoint is not None:
                self._checkpoint.put(progress)

    async def _items(self) -> AsyncGenerator[SweepItem, None]:
        if self._commits == "manual":
            # commit() covers whole parts; record by record, a caller cannot tell where
            # one ends.
            raise ConfigurationError("with commits='manual', iterate pages() or batches()")
        async with contextlib.aclosing(self._parts()) as parts:
            async for unit, page in parts:
                account = unit.account_id
                for record in page.records:
                    yield SweepItem(account, record, page, unit)

    def __aiter__(self) -> AsyncGenerator[SweepItem, None]:
        if self._producer is not None:
            return self._items()
        return self._open_and_iterate()

    async def _open_and_iterate(self) -> AsyncGenerator[SweepItem, None]:
        # A plain `async for` over an unopened sweep: open it here, close it when the
        # loop ends or is broken out of. No task group lives in this generator.
        try:
            await self.__aenter__()
            async with contextlib.aclosing(self._items()) as items:
                async for item in items:
                    yield item
        finally:
            await self.aclose()

    # -- consumer-side bookkeeping (runs when the caller pulls) ---------------------------

    def _unit_report(self, unit: Unit) -> AccountReport:
        report = self._report.accounts.get(unit.key)
        if report is None:
            report = self._report.accounts[unit.key] = AccountReport(
                unit.account_id,
                unit_key=unit.key,
                date=unit.date,
                tenant_id=unit.tenant_id,
                integration=unit.integration,
            )
        return report

    def _progress(self, unit: Unit) -> UnitProgress:
        """The unit's latest progress: held, handed out, else stored, else not started."""
        handed = self._held_progress.get(unit.key) or self._handed.get(unit.key)
        if handed is not None:
            return handed
        stored = self._checkpoint.get(unit.key) if self._checkpoint is not None else None
        return stored if stored is not None else UnitProgress.start(unit)

    def _record(self, unit: Unit, progress: UnitProgress) -> None:
        """Note ``progress``: at once with auto commits, at the next commit() otherwise."""
        if self._checkpoint is None:
            return
        if self._held is not None:
            self._hold(unit, 0, progress)  # after the unit's records still in a batch
        elif self._commits == "manual":
            self._handed[unit.key] = progress
        else:
            self._checkpoint.put(progress)

    def _handing(self, unit: Unit, page: Page) -> None:
        if self._checkpoint is not None and (page.records or page.final):
            before = self._progress(unit)
            progress = _after(before, page)
            if self._held is None:
                self._handed[unit.key] = progress
                return

            def head(k: int) -> UnitProgress:  # its first k records delivered
                cut = dataclasses.replace(page, records=page.records[:k], final=False)
                return _after(before, cut)

            self._hold(unit, len(page.records), progress, head)

    def _hold(
        self,
        unit: Unit,
        records: int,
        progress: UnitProgress,
        head: Callable[[int], UnitProgress] | None = None,
    ) -> None:
        """Note ``progress``, delivered once ``records`` more are out in Arrow batches."""
        assert self._held is not None
        self._held_progress[unit.key] = progress
        self._held.added(records, unit.key, progress, head)

    def _consumed(self, unit: Unit, page: Page, *, record: bool) -> None:
        self._unit_report(unit).records += len(page.records)
        if record and self._checkpoint is not None and (page.records or page.final):
            # At least once: the part is committed only now that the caller is past it.
            self._checkpoint.put(_after(self._progress(unit), page))

    def _skipped(self, event: _Skipped) -> None:
        _log.unit_skipped(event.unit, reason=event.reason)
        report = self._unit_report(event.unit)
        report.state = "skipped"
        report.error = event.reason
        self._end(event.unit, "skipped", event.reason)

    def _finished(self, event: _UnitFinished) -> None:
        report = self._unit_report(event.unit)
        if event.error is None:
            report.state = "done"
            # The unit's last part already made it done; this covers a walk of no parts.
            self._end(event.unit, "done")
            return
        report.state = "failed"
        report.error = str(event.error)
        report.error_type = type(event.error).__name__
        self._end(event.unit, "failed", report.error)
        if self._on_error == "raise":
            raise event.error

    def _end(self, unit: Unit, state: ProgressState, error: str | None = None) -> None:
        """Record that ``unit`` ended (``done``, ``failed`` or ``skipped``) in the checkpoint."""
        if self._checkpoint is not None:  # no progress to build without one
            self._record(unit, self._progress(unit).ended(state, error))

    # -- producer side -------------------------------------------------------------------

    async def _run(self, send: ChannelSender[_Event]) -> None:
        """The coordinator: discovery and the workers, plus the checkpoint's flusher.

        It never closes ``send`` itself: the runtime does, after handing on its error.
        """
        try:
            async with anyio.create_task_group() as background:
                if self._checkpoint is not None:
                    # Stopped when the workers end: the caller's later commits are flushed
                    # by aclose(), which keeps the checkpoint open while records remain.
                    background.start_soon(self._checkpoint.run_flusher)
                work_send: ChannelSender[Unit]
                work_receive: ChannelReceiver[Unit]
                work_send, work_receive = channel(self._concurrency)
                self._work = work_receive
                self._ramp.begin(time.perf_counter())
                self._cpu_waited = cpu_wait()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._feed, work_send, send.clone())
                    tg.start_soon(self._walk_all, work_receive, send.clone())
                background.cancel_scope.cancel()
        finally:
            self._report.finished_at = time.time()

    async def _feed(self, work: ChannelSender[Unit], events: ChannelSender[_Event]) -> None:
        """Hand units to the workers: a given plan's, or each account's as it is planned."""
        async with work, events:
            if self._plan is not None:
                await self._feed_plan(self._plan, work, events)
            else:
                await self._plan_and_feed(work, events)

    async def _feed_plan(
        self,
        plan: Plan,
        work: ChannelSender[Unit],
        events: ChannelSender[_Event],
    ) -> None:
        for skipped in plan.skipped:
            self._announce_skip(skipped, events)
        for account_id in plan.finished:
            self._report_finished(account_id, plan.dates)
        for unit in plan.units():
            await self._offer(unit, work)

    async def _plan_and_feed(
        self, work: ChannelSender[Unit], events: ChannelSender[_Event]
    ) -> None:
        """Plan, offering each account's units as soon as planning finds the account.

        Planning runs ahead of the workers by at most a rotation window of accounts and
        the events' buffer; the plan itself is set once planning ends.
        """
        request = self._request
        assert request is not None
        stats = self._report.discovery
        before = stats.requests
        collected = builder(request)
        rotation = Rotation(ROTATION_PER_WORKER * self._concurrency)
        finished = self._finished_account if self._checkpoint is not None else None
        async with planning(self._runtime, request, finished=finished, stats=stats) as found:
            while (event := await _next_event(found, rotation)) is not None:
                if event == "offer":
                    unit = rotation.next()
                    assert unit is not None
                    await self._offer(unit, work)
                else:
                    self._take(event, collected, rotation, events)
        self._set_plan(finish(request, collected, stats.requests - before))
        while (unit := rotation.next()) is not None:
            await self._offer(unit, work)

    def _take(
        self,
        event: Event,
        collected: PlanBuilder,
        rotation: Rotation,
        events: ChannelSender[_Event],
    ) -> None:
        """One planning event: an account's units join the rotation; skips are reported."""
        integration = collected.add(event)
        if len(collected.warnings) != len(self._report.warnings):  # live, before the plan
            self._report.warnings = list(collected.warnings)
        if isinstance(event, Found):
            assert integration is not None
            rotation.add(account_units(event.account, integration))
        elif isinstance(event, SkippedAccount):
            self._announce_skip(event, events)
        elif isinstance(event, AlreadyFinished):
            assert self._request is not None
            self._report_finished(event.account_id, self._request.dates)

    def _announce_skip(self, skipped: SkippedAccount, events: ChannelSender[_Event]) -> None:
        unit = Unit.of(
            skipped.account_id, integration=skipped.integration, tenant_id=skipped.tenant_id
        )
        self._unit_report(unit)
        events.send_nowait(_Skipped(unit, skipped.reason))

    def _unit_keys(self, account_id: str, dates: tuple[str, ...] | None) -> list[str]:
        """The keys an account's units may have: undated, or one per day."""
        return [account_id, *(unit_key(account_id, date=d) for d in dates or ())]

    def _finished_account(self, account_id: str) -> bool:
        """Does the checkpoint hold every unit of this account (as planned) as finished?"""
        assert self._checkpoint is not None and self._request is not None
        dates = self._request.dates
        keys = self._unit_keys(account_id, dates)
        done = [(p := self._checkpoint.get(k)) is not None and p.state in _ENDED for k in keys]
        return done[0] or (dates is not None and all(done[1:]))

    def _report_finished(self, account_id: str, dates: tuple[str, ...] | None) -> None:
        """Report the units of an account the checkpoint had finished (not planned again)."""
        assert self._checkpoint is not None
        for key in self._unit_keys(account_id, dates):
            progress = self._checkpoint.get(key)
            if progress is not None:
                report = self._unit_report(Unit(key, account_id, progress.date))
                report.state = "done" if progress.state == "done" else "skipped"
                report.error = progress.error
                report.note = "finished in an earlier run (checkpoint)"

    async def _offer(self, unit: Unit, work: ChannelSender[Unit]) -> None:
        report = self._unit_report(unit)
        if self._checkpoint is not None:
            progress = self._checkpoint.get(unit.key)
            if progress is not None and progress.state in ("done", "skipped"):
                report.state = progress.state
                report.error = progress.error
                report.note = "finished in an earlier run (checkpoint)"
                return
        await work.send(unit)  # to a free worker with no trip through the loop

    async def _walk_all(self, work: ChannelReceiver[Unit], events: ChannelSender[_Event]) -> None:
        """Run the walks: the ramp's first ones, then one more each time it asks, until
        no unit is left for a new walk."""
        async with work, events, anyio.create_task_group() as walks:
            while not work.drained:
                while self._walks < self._ramp.walks:
                    self._walks += 1
                    self._report.walks = max(self._report.walks, self._walks)
                    walks.start_soon(self._worker, work.clone(), events.clone())
                await self._more_walks.wait()  # set by the ramp, and as each walk ends
                self._more_walks = anyio.Event()

    async def _worker(self, work: ChannelReceiver[Unit], events: ChannelSender[_Event]) -> None:
        try:
            async with work, events:
                # A queued unit is taken without a scheduling point (the walk has its own).
                # A walk the ramp no longer wants ends between units.
                one_request = False
                while self._walks <= self._ramp.walks:
                    unit = await work.next()
                    if unit is None:
                        break
                    # Units of one request each: their starts are most of the requests,
                    # and go in batches (see truto_stream._gate). A longer unit's
                    # requests each wait for its last page anyway.
                    if one_request:
                        await self._gate.start()
                    one_request = await self._sweep_unit(unit, events) == 1
        finally:
            self._gate.send_starts()  # none waits for this walk to make up a batch
            self._walks -= 1
            self._more_walks.set()  # the last walk to end lets _walk_all end

    def _unit_query(self, unit: Unit) -> dict[str, Any]:
        query = unit.query(self._base_params)
        if self._fields is None:
            return query
        return self._fields.query(query, known_model(self._model, self._resource))

    def _unit_request(self, unit: Unit) -> ListRequest:
        """The unit's list request, from a template shared by the units whose query
        differs only by account (equal own parameters, same date and base parameters):
        the query is built and encoded once per template, not once per account."""
        # By value: a plan gives each unit a parameters dict of its own. The repr tells
        # apart values that are equal but encode differently (100 and 100.0, 1 and True).
        key = (repr(unit.params), unit.date, self._as_text)
        held = self._templates.get(key)
        if held is None or held[0] != unit.params:
            if len(self._templates) >= _MAX_TEMPLATES:  # many dates x integrations
                self._templates.clear()
            template = ListRequest.unified(
                self._model,
                self._resource,
                account_id=unit.account_id,
                params=self._unit_query(unit),
                mode=self._mode,
                framing=self._framing,
                max_pages=self._max_pages,
                as_text=self._as_text,
                read_bytes=self._read_bytes,
            )
            held = self._templates[key] = (unit.params, template)
        return held[1].for_account(unit.account_id)

    async def _sweep_unit(self, unit: Unit, events: ChannelSender[_Event]) -> int:
        """Walk ``unit``, handing on its parts and its end; the requests it took."""
        report = self._unit_report(unit)
        report.state = "running"
        stored = self._checkpoint.get(unit.key) if self._checkpoint is not None else None
        start = stored if stored is not None else UnitProgress.start(unit)
        if stored is not None:
            report.resumed_from = start.cursor
            report.resumed_skip = start.skip
        request = self._unit_request(unit)
        stats = WalkStats()

        # Texts are projected by their batches' schema.
        fields = self._fields if not request.as_text else None

        async def emit(page: Page) -> None:
            if fields is not None:  # the server may have ignored truto_exclude_fields
                page = dataclasses.replace(page, records=fields.apply(page.records))
            for part in _split(page, self._gate.capacity):
                await self._gate.reserve(len(part.records))
                events.send_nowait(_Part(unit, part))  # unbounded: the gate above is the bound

        started = time.monotonic()
        self._live[unit.key] = (stats, started)
        _log.unit_started(unit, path=request.path, resumed=stored is not None)
        error: TrutoError | None = None
        try:
            await self._runtime.fetcher.walk(
                request,
                emit,
                start_cursor=start.cursor,
                start_skip=start.skip,
                start_last_id=start.last_id,
                stats=stats,
                room=self._gate.room,
            )
        except TrutoError as exc:
            error = exc
        finally:
            del self._live[unit.key]
            _fold(report, stats, started)
        _log.unit_ended(unit, path=request.path, stats=stats, seconds=report.seconds, error=error)
        events.send_nowait(_UnitFinished(unit, error))
        return stats.requests
