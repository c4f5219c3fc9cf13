"""Cron expressions of cleanup schedules, evaluated with croniter.

An expression has five fields (minute, hour, day of month, month, day of
week), or six with a trailing seconds field. Times are evaluated in the
schedule's IANA time zone.

An expression can be valid and still match no date, such as ``0 3 30 2 *``
(30 February). croniter raises CroniterBadDateError for it when asked for
the next or previous time, which ``next_fire_time`` and ``previous_fire_time``
turn into InvalidInputError.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from nerve_registry.domain.references import shown_value
from nerve_registry.errors import InvalidInputError

MAX_CRON_LENGTH = 256
_NO_DATE_HINT = (
    "Dates such as 30 February or 31 April do not exist. Choose a day of the month that "
    "exists in every month the expression names."
)


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


def validate_fires(expression: str, timezone: str, *, now: datetime, field: str = "cron") -> None:
    """Raise InvalidInputError naming ``field`` unless the expression fires after ``now``.

    Call it after ``validate_cron`` and ``validate_timezone``.
    """
    base = now.astimezone(_zone(timezone))
    try:
        croniter(expression, base).get_next(datetime)
    except CroniterBadDateError as error:
        raise InvalidInputError(
            f"Field '{field}' has the cron expression {shown_value(expression)}, which matches "
            f"no date, so the schedule would never run. {_NO_DATE_HINT}"
        ) from error
    except CroniterError as error:
        raise InvalidInputError(
            f"Field '{field}' has the cron expression {shown_value(expression)}, which cannot "
            f"be evaluated: {error}"
        ) from error


def next_fire_time(expression: str, timezone: str, after: datetime) -> datetime:
    """Return the first time after ``after`` that the expression matches, timezone-aware.

    Raises InvalidInputError when the time zone is unknown or the expression
    matches no date.
    """
    return _fire_time(expression, timezone, after, forward=True)


def previous_fire_time(expression: str, timezone: str, before: datetime) -> datetime:
    """Return the last time at or before ``before`` that the expression matches.

    Raises InvalidInputError like ``next_fire_time``.
    """
    return _fire_time(expression, timezone, before, forward=False)


def _fire_time(expression: str, timezone: str, moment: datetime, *, forward: bool) -> datetime:
    base = moment.astimezone(_zone(timezone))
    try:
        schedule = croniter(expression, base)
        fire: datetime = schedule.get_next(datetime) if forward else schedule.get_prev(datetime)
    except CroniterBadDateError as error:
        raise InvalidInputError(_no_date_message(expression)) from error
    except CroniterError as error:
        raise InvalidInputError(
            f"The cron expression {expression!r} is invalid: {error}"
        ) from error
    return fire


def _zone(timezone: str) -> ZoneInfo:
    """Return the time zone; a stored name can vanish when the time zone database changes."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInputError(
            f"The time zone {timezone!r} is unknown to this system's time zone database; "
            "set the schedule again with an IANA name such as 'UTC' or 'Europe/Vienna'."
        ) from error


def _no_date_message(expression: str) -> str:
    return f"The cron expression {expression!r} matches no date. {_NO_DATE_HINT}"
