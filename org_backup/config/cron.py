"""Offline validation of AWS cron expressions as AWS Backup accepts them.

``terraform validate`` does not check cron expressions (only AWS does, at apply time), so a typo would otherwise
reach the organization. Rules (AWS EventBridge "cron expressions" reference, which AWS Backup uses):
six fields ``minutes hours day-of-month month day-of-week year``; ``?`` in exactly one of day-of-month and
day-of-week; ranges minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or
SUN-SAT, year 1970-2199; wildcards ``, - * /``, plus ``L W`` in day-of-month and ``L #`` in day-of-week.
AWS Backup additionally runs a rule at most once an hour, so the minutes field must be one number.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

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


# Fire times are enumerated over two whole years from this date: every month length, weekday and year boundary
# occurs, and the result does not depend on when synth runs.
_GAP_WINDOW_START = datetime(2030, 1, 1, tzinfo=UTC)
_GAP_WINDOW_HOURS = 2 * 365 * 24


def longest_gap_hours(expression: str) -> int | None:
    """The longest time between two consecutive runs of a valid schedule, in whole hours (AWS Backup runs a rule at
    most once an hour); None if it runs less than twice in two years."""
    fires = list(_fire_hours(expression, _GAP_WINDOW_START))
    if len(fires) < 2:
        return None
    return max(later - earlier for earlier, later in pairwise(fires))


def _fire_hours(expression: str, start: datetime) -> Iterator[int]:
    """The hours, counted from ``start``, at which a valid schedule runs within two years of it."""
    fields = expression.strip()[len("cron(") : -1].split()
    hours, dom, months, dow, years = fields[1], fields[2], fields[3], fields[4], fields[5]
    for offset in range(_GAP_WINDOW_HOURS):
        moment = start + timedelta(hours=offset)
        if (
            _matches(hours, moment.hour, 0, 23, {})
            and _matches(months, moment.month, 1, 12, _MONTHS)
            and _matches(years, moment.year, 1970, 2199, {})
            and (_day_of_month(dom, moment) if dom != "?" else _day_of_week(dow, moment))
        ):
            yield offset


def _number(text: str, names: dict[str, int]) -> int:
    return names.get(text.upper(), 0) or int(text)


def _matches(field: str, value: int, low: int, high: int, names: dict[str, int]) -> bool:
    for item in field.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            start, end = low, high
        else:
            first, _, last = base.partition("-")
            start = _number(first, names)
            end = _number(last, names) if last else (high if step else start)
        if start <= value <= end and (value - start) % int(step or 1) == 0:
            return True
    return False


def _day_of_month(field: str, moment: datetime) -> bool:
    last = calendar.monthrange(moment.year, moment.month)[1]
    for item in field.split(","):
        if item == "L" and moment.day == last:
            return True
        if item.endswith("W"):  # the weekday nearest to that day, within the month (LW: the last weekday)
            day = last if item == "LW" else int(item[:-1])
            if _nearest_weekday(moment.year, moment.month, min(day, last)) == moment.day:
                return True
        elif item != "L" and _matches(item, moment.day, 1, 31, {}):
            return True
    return False


def _nearest_weekday(year: int, month: int, day: int) -> int:
    last = calendar.monthrange(year, month)[1]
    weekday = date(year, month, day).weekday()  # Monday 0 .. Sunday 6
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < last else day - 2
    return day


def _day_of_week(field: str, moment: datetime) -> bool:
    aws_day = (moment.weekday() + 1) % 7 + 1  # AWS: 1 = SUN .. 7 = SAT
    last = calendar.monthrange(moment.year, moment.month)[1]
    for item in field.split(","):
        if item.endswith("L") and item != "L":  # the last such weekday of the month
            if _number(item[:-1], _DAYS) == aws_day and moment.day + 7 > last:
                return True
        elif "#" in item:  # the n-th such weekday of the month
            day, _, nth = item.partition("#")
            if _number(day, _DAYS) == aws_day and (moment.day - 1) // 7 + 1 == int(nth):
                return True
        elif _matches(item, aws_day, 1, 7, _DAYS):
            return True
    return False


_RATE = re.compile(r"rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)")
_EXAMPLE = "cron(0 5 ? * * *) for 05:00 UTC every day"


def schedule_problems(expression: str, *, now: datetime | None = None) -> list[str]:
    """What is wrong with a schedule of org-backup's own config (a backup rule or the restore tests), each with its
    fix: AWS's cron form (``cron_problems``), an equivalent for a rate expression or a Unix (5-field) cron, and a
    schedule that would never run in the next two years (the 31st of February). AWS Backup takes cron expressions
    for both ("ScheduleExpression: A cron expression", API_BackupRule and API_CreateRestoreTestingPlan)."""
    text = expression.strip()
    rate = _RATE.fullmatch(text)
    if rate:
        return [f"{expression!r} is a rate expression; AWS Backup schedules are cron expressions. {_rate_fix(rate)}"]
    inner = text[len("cron(") : -1] if text.startswith("cron(") and text.endswith(")") else text
    if len(inner.split()) == 5 and "(" not in inner:
        return [f"{expression!r} is a Unix (5-field) cron; AWS's has 6 fields. {_unix_fix(inner.split())}"]
    problems = cron_problems(text)
    if problems:
        fix = f"Fix: write minutes hours day-of-month month day-of-week year, e.g. {_EXAMPLE}."
        return [f"{problem}. {fix}" for problem in problems]
    hour = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    if next(_fire_hours(text, hour), None) is None:
        return [
            f"{expression!r} never runs in the next two years (a day that does not exist, like the 31st of February, "
            f"or a past year), so it would protect nothing. Fix: choose a day every month has, e.g. {_EXAMPLE}."
        ]
    return []


def _rate_fix(rate: re.Match[str]) -> str:
    count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
    if unit == "minute" or (unit == "hour" and count < 1):
        return "Fix: AWS Backup runs a rule at most once an hour; e.g. cron(0 * * * ? *) for every hour."
    if unit == "hour" and 24 % count == 0 and count < 24:
        return f"Fix: write cron(0 0/{count} * * ? *) (every {count} hours from midnight UTC)."
    if (unit == "hour" and count == 24) or (unit == "day" and count == 1):
        return "Fix: write cron(0 0 * * ? *) (every day at midnight UTC; choose the hour)."
    if unit == "day" and count < 32:
        return f"Fix: write cron(0 0 1/{count} * ? *) (every {count} days from the 1st of each month, the closest cron has)."
    return f"Fix: write a cron expression, e.g. {_EXAMPLE}."


def _unix_fix(fields: list[str]) -> str:
    """AWS's form of a Unix cron: day-of-week 0-7 (Sunday 0 or 7) becomes 1-7 (SUN 1), '?' in the unused day field,
    and a year. Unix runs on either day field when both are set, which AWS cannot say: then no equivalent."""
    minutes, hours, dom, month, dow = fields
    if dow in ("*", "?"):
        return f"Fix: write cron({minutes} {hours} {dom} {month} ? *)."
    if dom == "*":
        days = re.sub(r"\d+", lambda m: str(int(m.group(0)) % 7 + 1), dow)
        ranges = re.findall(r"(\d)-(\d)", days)
        if all(a < b for a, b in ranges):
            return f"Fix: write cron({minutes} {hours} ? {month} {days} *) (AWS numbers the days SUN=1 to SAT=7)."
    return f"Fix: write six fields with '?' in day-of-month or day-of-week, e.g. {_EXAMPLE}."
