"""Offline validation of AWS cron expressions as AWS Backup accepts them.

``terraform validate`` does not check cron expressions (only AWS does, at apply time), so a typo would otherwise
reach the organization. Rules (AWS EventBridge "cron expressions" reference, which AWS Backup uses):
six fields ``minutes hours day-of-month month day-of-week year``; ``?`` in exactly one of day-of-month and
day-of-week; ranges minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or
SUN-SAT, year 1970-2199; wildcards ``, - * /``, plus ``L W`` in day-of-month and ``L #`` in day-of-week.
AWS Backup additionally runs a rule at most once an hour, so the minutes field must be one number.
"""

from __future__ import annotations

import re

_MONTHS = {
    m: i for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, {}),
)


def cron_problems(expression: str) -> list[str]:
    """Everything wrong with ``expression``; empty when AWS Backup would accept it."""
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if not match:
        return [f"{expression!r} is not of the form cron(<6 fields>) (AWS Backup schedules are cron expressions)"]
    fields = match.group(1).split()
    if len(fields) != 6:
        return [
            f"{expression!r} has {len(fields)} fields; AWS cron has 6: minutes hours day-of-month month "
            "day-of-week year"
        ]
    problems = []
    for value, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(value, name, low, high, names)
        if problem:
            problems.append(problem)
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        problems.append(f"{expression!r}: exactly one of day-of-month ({dom!r}) and day-of-week ({dow!r}) must be '?'")
    if not re.fullmatch(r"\d{1,2}", fields[0]):
        problems.append(f"{expression!r}: minutes must be a single number; AWS Backup runs a rule at most once an hour")
    return problems


def _field_problem(value: str, name: str, low: int, high: int, names: dict[str, int]) -> str | None:
    if value == "?":
        return (
            None
            if name in ("day-of-month", "day-of-week")
            else f"'?' is only allowed in day-of-month or day-of-week, not {name}"
        )
    for item in value.split(","):
        problem = _item_problem(item, name, low, high, names)
        if problem:
            return f"{name} {value!r}: {problem}"
    return None


def _item_problem(item: str, name: str, low: int, high: int, names: dict[str, int]) -> str | None:
    if name == "day-of-month" and re.fullmatch(r"L|LW|\d{1,2}W", item):
        day = item.rstrip("W")
        return None if day in ("L", "") or low <= int(day) <= high else f"{item!r} is outside {low}-{high}"
    if name == "day-of-week" and re.fullmatch(r"(\w{1,3})(L|#[1-5])", item):
        named = re.match(r"\w+?(?=L$|#)", item)
        return _value_problem(named.group(0) if named else item, low, high, names)
    base, _, step = item.partition("/")
    if step and not (step.isdigit() and int(step) > 0):
        return f"step {step!r} must be a positive number"
    if base == "*":
        return None
    start, _, end = base.partition("-")
    for part in (start, end) if end else (start,):
        problem = _value_problem(part, low, high, names)
        if problem:
            return problem
    return None


def _value_problem(text: str, low: int, high: int, names: dict[str, int]) -> str | None:
    if text.upper() in names:
        return None
    if not text.isdigit():
        allowed = f"{low}-{high}" + (f" or {'/'.join(names)}" if names else "")
        return f"{text!r} is not a number ({allowed})"
    if not low <= int(text) <= high:
        return f"{text!r} is outside {low}-{high}"
    return None
