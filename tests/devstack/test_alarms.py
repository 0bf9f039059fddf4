"""The template's metric-math alarms compute what their descriptions say, evaluated here on
known counts (CloudWatch's FILL and IF, over the alarm's own metric ids)."""

from __future__ import annotations

import ast
import re
from typing import Any

from devstack.template import Template


def rate_of(template: Template, alarm: str, counts: dict[str, float]) -> float:
    """The alarm's returned expression, evaluated with each metric id's sum."""
    metrics = template.properties(alarm)["Metrics"]
    expression = next(m["Expression"] for m in metrics if m.get("ReturnData"))
    python = re.sub(r"\bFILL\(", "_fill(", re.sub(r"\bIF\(", "_if(", expression))
    tree = ast.parse(python, mode="eval")
    allowed = {"_fill", "_if", *counts}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert names <= allowed, names - allowed
    scope: dict[str, Any] = {
        "_fill": lambda value, default: default if value is None else value,
        "_if": lambda condition, yes, no: yes if condition else no,
        **counts,
    }
    result = eval(compile(tree, "<alarm>", "eval"), {"__builtins__": {}}, scope)  # noqa: S307
    return float(result)


def test_window_closed_rate_counts_each_template_once_when_some_replies_fell_back(
    template: Template,
) -> None:
    # Given an hour of 10 replies: 7 sent as text, 2 sent as the template because the
    # window had closed (ReplySent counts those 2 as well), 1 not sent (window closed)
    counts = {"closed": 1.0, "fallback": 2.0, "replies": 9.0}
    # When the alarm computes its rate
    rate = rate_of(template, "WindowClosedRateAlarm", counts)
    # Then 3 of the 10 replies met a closed window
    assert rate == 30.0


def test_window_closed_rate_is_zero_when_fewer_than_three_replies_met_a_closed_window(
    template: Template,
) -> None:
    assert (
        rate_of(template, "WindowClosedRateAlarm", {"closed": 1, "fallback": 1, "replies": 1}) == 0
    )
