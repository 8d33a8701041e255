"""The cases of the one scan's window, read once per report (pure builders).

:func:`window_cases_query` reads the ``cases`` table once for the cases with a selection in the
scan's window (their id and handle time); the source materialises its rows beside the scan
(:class:`~abkit.report.scan_queries.MaterializeAs`). The case count is their number
(:func:`case_count_from`: the rows of ``cases`` whose id is among the window's selections, as
:func:`~abkit.report.queries.case_count_query`), and :func:`arm_cases_query` joins the scan's
interactions to them for the case groups and the handle-time guardrail, instead of to ``cases``:
every case an interaction names is among them, so the join keeps the same rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Double, Select, String, column, func, select, table

from abkit.events import columns as c
from abkit.events.schema import cases
from abkit.report.groups import Plan
from abkit.report.queries import _phase


def window_cases_query(i: Any) -> Select:
    """The rows of ``cases`` (case_id, handle_time_s) whose id is that of an interaction in ``i``
    (per-interaction rows: :func:`~abkit.report.scan_queries.interaction_keys_from`)."""
    return select(cases.c.case_id, cases.c.handle_time_s).where(cases.c.case_id.in_(select(i.case_id)))


def window_cases_table(name: str) -> Any:
    """The materialised rows of :func:`window_cases_query` under ``name`` (a table-like clause)."""
    return table(name, column(c.CASE_ID, String()), column(c.HANDLE_TIME_S, Double()))


def case_count_from(window_cases: Any) -> Select:
    """Cases with a selection in the window: the rows of :func:`window_cases_query`."""
    return select(func.count()).select_from(window_cases)


def arm_cases_query(i: Any, plan: Plan, window_cases: Any) -> Select:
    """Cases of each arm joined to their handle times once: the case groups and the guardrail.

    From per-interaction rows ``i``, per (experiment, phase, model_version, arm), a case in the
    phase in force at its first selection in the arm (as
    :func:`~abkit.report.online_queries.handle_time_groups_query`): ``n`` cases with an interaction
    in the arm, their ``selections``, ``handle_time_sum``, and the handle times' ``low``
    (smallest), ``total`` and ``total_sq`` about it (from the mean and M2, as the selection groups).
    The handle times come from ``window_cases`` (case_id, handle_time_s: :func:`window_cases_table`,
    or ``cases`` itself).
    """
    per_case = (
        select(
            i.experiment,
            i.model_version,
            i.arm,
            i.case_id,
            func.sum(i.n_i).label("selections"),
            func.min(i.first_seen).label("first_seen"),
        )
        .group_by(i.experiment, i.model_version, i.arm, i.case_id)
        .subquery("arm_cases")
    )
    pc = per_case.c
    times = window_cases.c
    phased = (
        select(
            pc.experiment,
            _phase(pc.experiment, pc.first_seen, plan.phases).label("phase"),
            pc.model_version,
            pc.arm,
            pc.selections,
            times.handle_time_s.label("h"),
        )
        .select_from(per_case.join(window_cases, times.case_id == pc.case_id))
        .subquery("arm_case_times")
    )
    p = phased.c
    n = func.count()
    d = func.avg(p.h) - func.min(p.h)
    keys = (p.experiment, p.phase, p.model_version, p.arm)
    return select(
        *keys,
        n.label("n"),
        func.sum(p.selections).label("selections"),
        func.sum(p.h).label("handle_time_sum"),
        func.min(p.h).label("low"),
        (n * d).label("total"),
        (func.var_pop(p.h) * n + n * d * d).label("total_sq"),
    ).group_by(*keys)
