"""Sweep plans: which units of work a sweep will run, with which parameters, at what cost.

Sans-IO: :mod:`dates` (``DateRange`` and the ``--date`` forms), :mod:`capabilities`
(what each integration's endpoint takes, the built-in table), :mod:`pages` (the page size
chosen), :mod:`estimate` (requests and the rate limits' time floor), :mod:`model` (the
:class:`Plan` and its units), :mod:`assemble` and :mod:`render`. I/O: :mod:`resolve`
(discovery, account lookups, query schemas) and :mod:`planner` (checks, then both).
"""

from truto_stream.plan.capabilities import Capability, PageBounds, known_integrations
from truto_stream.plan.dates import DateRange, parse_date_spec
from truto_stream.plan.estimate import Estimate, RateCeiling
from truto_stream.plan.model import IntegrationPlan, Plan, PlannedAccount, SkippedAccount
from truto_stream.plan.pages import PageChoice
from truto_stream.plan.render import render_plan, summary_line

__all__ = [
    "Capability",
    "DateRange",
    "Estimate",
    "IntegrationPlan",
    "PageBounds",
    "PageChoice",
    "Plan",
    "PlannedAccount",
    "RateCeiling",
    "SkippedAccount",
    "known_integrations",
    "parse_date_spec",
    "render_plan",
    "summary_line",
]
