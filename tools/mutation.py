"""A mutation run over the sans-IO core: break each mechanism on purpose, see a test fail.

``make mutation`` (or ``python tools/mutation.py [MODULE ...]``) copies the package and
the tests to ``build/mutation/``, runs mutmut 3 there over the modules below, each
mutant against the unit tests that cover the function it changed (mutmut traces which
tests run which function first), and prints a table per module: mutants, killed,
survived, timed out. ``--list-survivors`` prints every survivor's diff for judging;
docs/mutation.md records the last run and the survivors judged equivalent.

mutmut 3 mutates code inside functions only (module constants are left alone) and runs
each mutant in a process forked from a warm one, so a run over everything takes
minutes; ``--max-children`` bounds the processes (2 by default: the machine is shared).
Not part of ``make test``: mutation runs are for whoever changes the core.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"

#: Module (as mutmut names its mutants: dotted, without ".py") -> the unit tests for it.
MODULES: dict[str, tuple[str, ...]] = {
    "truto_stream._retry": ("tests/unit/test_retry.py", "tests/unit/test_fetch.py"),
    "truto_stream._ratelimit": ("tests/unit/test_ratelimit.py",),
    "truto_stream._paging": ("tests/unit/test_paging.py", "tests/unit/test_fetch.py"),
    "truto_stream._redact": ("tests/unit/test_redact.py", "tests/unit/test_errors.py"),
    "truto_stream._scrub": ("tests/unit/test_scrub.py",),
    "truto_stream._bounds": ("tests/unit/test_bounds.py",),
    "truto_stream._query": ("tests/unit/test_query.py",),
    "truto_stream._resume": ("tests/unit/test_resume.py", "tests/unit/test_fetch.py"),
    "truto_stream.checkpoint": ("tests/unit/test_checkpoint.py",),
    "truto_stream._decode._runs": ("tests/unit/test_decode.py", "tests/unit/test_parse.py"),
    "truto_stream._decode._members": ("tests/unit/test_decode.py", "tests/unit/test_parse.py"),
    "truto_stream._decode._scan": ("tests/unit/test_decode.py", "tests/unit/test_parse.py"),
    "truto_stream.plan.dates": ("tests/plan/test_dates.py",),
    "truto_stream.plan.pages": ("tests/plan/test_pages_and_capabilities.py",),
    "truto_stream.plan.rotation": ("tests/plan/test_streamed_plan_pieces.py",),
}

_SETUP_CFG = """\
[mutmut]
source_paths=truto_stream
only_mutate=
{only}
pytest_add_cli_args_test_selection=
{tests}
pytest_add_cli_args=
    -p
    no:cacheprovider
    -p
    no:randomly
    -x
    -q
timeout_multiplier=10
use_git_change_detection=false
"""


def _module_path(module: str) -> str:
    return module.replace(".", "/") + ".py"


def prepare(modules: list[str]) -> None:
    """A fresh copy of the package and tests, with mutmut's configuration for ``modules``."""
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "truto_stream", WORK / "truto_stream", ignore=ignore)
    shutil.copytree(ROOT / "tests", WORK / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", WORK / "pyproject.toml")
    tests = sorted({test for module in modules for test in MODULES[module]})
    only = "\n".join(f"    {_module_path(m)}" for m in modules)
    (WORK / "setup.cfg").write_text(
        _SETUP_CFG.format(only=only, tests="\n".join(f"    {t}" for t in tests))
    )


def mutmut(*args: str, capture: bool = False) -> str:
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    result = subprocess.run(command, cwd=WORK, check=False, capture_output=capture, text=True)
    if result.returncode != 0 and args[0] == "run":
        raise SystemExit(f"mutmut {' '.join(args)} failed ({result.returncode})")
    return result.stdout if capture else ""


def results() -> dict[str, Counter[str]]:
    """Outcome counts per module, from ``mutmut results --all true``."""
    counts: dict[str, Counter[str]] = {}
    for line in mutmut("results", "--all", "true", capture=True).splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name:
            continue
        module = name.split(".x_")[0].split(".xǁ")[0]
        counts.setdefault(module, Counter())[status.strip()] += 1
    return counts


def table(counts: dict[str, Counter[str]]) -> str:
    rows = [
        "| module | mutants | killed | survived | timeout | other |",
        "|---|---|---|---|---|---|",
    ]
    for module in sorted(counts):
        c = counts[module]
        other = sum(c.values()) - c["killed"] - c["survived"] - c["timeout"]
        rows.append(
            f"| `{module}` | {sum(c.values())} | {c['killed']} | {c['survived']} "
            f"| {c['timeout']} | {other} |"
        )
    return "\n".join(rows)


def survivors() -> list[str]:
    lines = mutmut("results", capture=True).splitlines()
    return [line.split(":")[0].strip() for line in lines if line.strip().endswith("survived")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--list-survivors", action="store_true", help="print their diffs")
    args = parser.parse_args()
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    prepare(modules)
    mutmut("run", "--max-children", str(args.max_children))
    print(table(results()))
    if args.list_survivors:
        for name in survivors():
            print(mutmut("show", name, capture=True))


if __name__ == "__main__":
    main()
