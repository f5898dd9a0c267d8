"""Result rows and the markdown they are published as."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Row", "ScenarioResult", "fmt", "markdown", "memory_ratio", "ratio", "status"]

Status = Literal["met", "MISSED", "info", "n/a"]


@dataclass
class Row:
    """One line of the results table: our figure, a baseline's, their ratio, the target."""

    measure: str
    ours: str
    baseline: str = ""
    baseline_value: str = ""
    ratio: str = ""
    target: str = ""
    status: Status = "info"


@dataclass
class ScenarioResult:
    """What one scenario measured: table rows, notes, raw side results, emulator CPU.

    ``tables``: extra markdown blocks printed after the notes (e.g. every side's figures).
    """

    sid: int
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    emulator_cpu_s: float = 0.0
    sides_wall_s: float = 0.0
    seconds: float = 0.0
    tables: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the result file's ``scenarios`` entries)."""
        return asdict(self)


def fmt(value: float, unit: str = "") -> str:
    """A compact human figure: 3 significant digits, thousands separators."""
    if value != value:  # NaN
        return "–"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def ratio(ours: float, baseline: float, *, higher_is_better: bool = True) -> float:
    """How many times better ours is (>1 means better), or NaN without a baseline."""
    if not ours or not baseline:
        return float("nan")
    return ours / baseline if higher_is_better else baseline / ours


def memory_ratio(ours: float, baseline: float) -> str:
    """Our peak memory against a baseline's, worded so it reads right either way."""
    if not ours or not baseline or ours != ours or baseline != baseline:
        return "–"
    if baseline >= ours:
        return f"{baseline / ours:.2f}x less"
    return f"{ours / baseline:.2f}x more"


def status(ok: bool | None) -> Status:
    """``met`` / ``MISSED`` / ``n/a`` (no measurement)."""
    if ok is None:
        return "n/a"
    return "met" if ok else "MISSED"


def markdown(results: list[ScenarioResult], *, header: str = "") -> str:
    """The results table, the emulator CPU table and every scenario's notes."""
    lines = [header] if header else []
    lines += [
        "| # | measure | truto-stream | baseline | baseline figure | ratio | target | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for row in res.rows:
            result = {"met": "met", "MISSED": "**MISSED**", "info": "", "n/a": "n/a"}[row.status]
            cells = [
                str(res.sid),
                row.measure,
                row.ours,
                row.baseline,
                row.baseline_value,
                row.ratio,
                row.target,
                result,
            ]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines += [
        "",
        "Emulator CPU (its own process) against the wall time of the measured sides it served:",
        "",
        "| # | scenario | emulator CPU | sides' wall time | emulator share of one core |",
        "|---|---|---|---|---|",
    ]
    for res in results:
        share = res.emulator_cpu_s / res.sides_wall_s if res.sides_wall_s else float("nan")
        lines.append(
            f"| {res.sid} | {res.title} | {fmt(res.emulator_cpu_s, 's')} | "
            f"{fmt(res.sides_wall_s, 's')} | {share:.0%} |"
        )
    notes = [(res.sid, note) for res in results for note in res.notes]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- ({sid}) {note}" for sid, note in notes]
    for res in results:
        for table in res.tables:
            lines += ["", table.rstrip("\n")]
    return "\n".join(lines) + "\n"
