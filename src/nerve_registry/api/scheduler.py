"""The scheduler task: starts the cleanup schedules' runs when their cron expressions come due.

A schedule fires at most once per check: when the service was down over
several due times, it runs once at the next check and then follows its
expression again. Runs go through ``CleanupController.run_scheduled``, which
waits for any operation that is running.

A stored schedule without a next fire time (a cron expression that matches no
date, or a time zone that the time zone database no longer has) is skipped and
logged at every check, so it never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from nerve_registry.api.cleanup import CleanupController
from nerve_registry.domain.cron import next_fire_time, previous_fire_time
from nerve_registry.errors import InvalidInputError, NerveRegistryError
from nerve_registry.store import cleanup as store
from nerve_registry.store.database import transaction, utcnow

logger = logging.getLogger(__name__)

# Maximum seconds between two checks, so that changes made outside the API
# (another process writing the database) are seen within this many seconds.
MAX_SLEEP = 60.0
MIN_SLEEP = 0.2


@dataclass(frozen=True)
class _Due:
    name: str
    cron: str
    timezone: str
    action: str
    policies: list[str] | None
    untagged_older_than: timedelta | None
    base: datetime


class Scheduler:
    """Checks the enabled schedules and starts the runs that are due, one after another."""

    def __init__(self, controller: CleanupController) -> None:
        self.controller = controller
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cleanup-scheduler")
        logger.info("Cleanup scheduler started")

    async def stop(self) -> None:
        task = self._task
        self._task = None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        logger.info("Cleanup scheduler stopped")

    def notify(self) -> None:
        """Make the scheduler check again now, after a schedule was changed."""
        self.wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                delay = await self._check()
            except Exception:
                logger.exception("Checking the cleanup schedules failed; retrying later")
                delay = MAX_SLEEP

            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)

    async def _check(self) -> float:
        """Start every due schedule and return the seconds until the next one is due."""
        schedules = await asyncio.to_thread(self._load)
        now = utcnow()
        next_due = now + timedelta(seconds=MAX_SLEEP)

        for schedule in schedules:
            try:
                due = await self._fire_if_due(schedule, now)
            except InvalidInputError as error:
                logger.warning("Skipped schedule %s: %s", schedule.name, error.message)
                continue
            next_due = min(next_due, due)

        return max(MIN_SLEEP, (next_due - utcnow()).total_seconds())

    async def _fire_if_due(self, schedule: _Due, now: datetime) -> datetime:
        """Run the schedule if it is due; return its next fire time.

        Raises InvalidInputError, before anything runs, when the schedule has no fire time.
        """
        due = next_fire_time(schedule.cron, schedule.timezone, schedule.base)
        if due > now:
            return due

        fired_at = previous_fire_time(schedule.cron, schedule.timezone, now)
        await asyncio.to_thread(self._mark_fired, schedule.name, fired_at)
        await self._run(schedule)
        return next_fire_time(schedule.cron, schedule.timezone, fired_at)

    async def _run(self, schedule: _Due) -> None:
        logger.info("Schedule %s is due: starting %s", schedule.name, schedule.action)
        try:
            run_id = await self.controller.run_scheduled(
                action=schedule.action,
                policy_names=schedule.policies,
                untagged_older_than=schedule.untagged_older_than,
                triggered_by=store.schedule_trigger(schedule.name),
            )
        except NerveRegistryError as error:
            logger.error("Scheduled run of %s failed: %s", schedule.name, error.message)
            return
        logger.info("Schedule %s finished run %d", schedule.name, run_id)

    def _load(self) -> list[_Due]:
        with transaction(self.controller.services.database) as session:
            return [
                _Due(
                    name=record.name,
                    cron=record.cron,
                    timezone=record.timezone,
                    action=record.action,
                    policies=record.policies,
                    untagged_older_than=timedelta(seconds=record.untagged_older_than_seconds)
                    if record.untagged_older_than_seconds is not None
                    else None,
                    base=max(record.last_fired_at or record.updated_at, record.updated_at),
                )
                for record in store.list_schedules(session)
                if record.enabled
            ]

    def _mark_fired(self, name: str, fired_at: datetime) -> None:
        with transaction(self.controller.services.database) as session:
            record = store.get_schedule(session, name)
            if record is not None:
                record.last_fired_at = fired_at
