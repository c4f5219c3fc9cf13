"""Cron expressions of cleanup schedules, evaluated with croniter.

An expression has five fields (minute, hour, day of month, month, day of
week), or six with a trailing seconds field. Times are evaluated in the
schedule's IANA time zone.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from nerve_registry.domain.references import shown_value
from nerve_registry.errors import InvalidInputError

MAX_CRON_LENGTH = 256


def validate_cron(expression: object, field: str = "cron") -> str:
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInputError(f"Field '{field}' must be a cron expression such as '0 3 * * *'.")

    text = " ".join(expression.split())
    fields = len(text.split(" "))
    if len(text) > MAX_CRON_LENGTH or fields not in (5, 6) or not croniter.is_valid(text):
        raise InvalidInputError(
            f"Field '{field}' has the invalid cron expression {shown_value(expression)}: use "
            "five fields (minute hour day-of-month month day-of-week), such as '0 3 * * *', "
            "or six with a trailing seconds field."
        )
    return text


def validate_timezone(name: object, field: str = "timezone") -> str:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidInputError(f"Field '{field}' must be an IANA time zone such as 'UTC'.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInputError(
            f"Field '{field}' names the unknown time zone {shown_value(name)}; use an IANA "
            "name such as 'UTC' or 'Europe/Vienna'."
        ) from error
    return name


def next_fire_time(expression: str, timezone: str, after: datetime) -> datetime:
    """Return the first time after ``after`` that the expression matches, timezone-aware."""
    base = after.astimezone(ZoneInfo(timezone))
    try:
        fire: datetime = croniter(expression, base).get_next(datetime)
    except CroniterError as error:
        raise InvalidInputError(
            f"The cron expression {expression!r} is invalid: {error}"
        ) from error
    return fire


def previous_fire_time(expression: str, timezone: str, before: datetime) -> datetime:
    """Return the last time at or before ``before`` that the expression matches."""
    base = before.astimezone(ZoneInfo(timezone))
    fire: datetime = croniter(expression, base).get_prev(datetime)
    return fire
