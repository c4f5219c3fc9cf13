"""Read-only maintenance of the embedded registry, and garbage collection inside it.

While maintenance is active, ``services.maintenance`` records it (the token
endpoint rejects push grants and the delete endpoint rejects deletions) and
the embedded registry runs in Distribution's read-only mode: pulls keep
working, and every write gets ``405 Method not allowed``. Maintenance is held
by the operator (``maintenance on``) or by one cleanup operation at a time.

The operator's maintenance is stored in the database, so a restarted service
starts the registry read-only again and keeps it so until ``maintenance off``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.api.state import Maintenance, Services
from nerve_registry.embedded.collector import collect_garbage
from nerve_registry.embedded.errors import EmbeddedRegistryError
from nerve_registry.embedded.storage import RegistryStorage
from nerve_registry.errors import MaintenanceError, UnsupportedOperationError
from nerve_registry.store import cleanup as store
from nerve_registry.store.database import transaction, utcnow

if TYPE_CHECKING:
    from nerve_registry.embedded.supervisor import RegistrySupervisor

logger = logging.getLogger(__name__)

# Seconds that the Retry-After header of a write rejected during maintenance suggests.
RETRY_AFTER = 60
# Maximum seconds one garbage collection may run before it is stopped.
# NOTE: an estimate for registries of a few hundred GB on local disks; not measured.
COLLECTION_TIMEOUT = 6 * 60 * 60
# Attempts to bring the registry back to read-write mode after maintenance.
RESTORE_ATTEMPTS = 3
RESTORE_DELAY = 2.0

COLLECTION_LOG = "garbage-collect.log"

EXTERNAL_GC_INSTRUCTIONS = (
    "This service uses an external registry (--registry-url), so it cannot run the "
    "registry's garbage collector. On the registry's host: set "
    "storage.maintenance.readonly.enabled to true in the registry's config.yml and restart "
    "it; run 'registry garbage-collect /etc/docker/registry/config.yml' (the path of that "
    "config.yml) without --delete-untagged, which in Distribution 2.8 also deletes the "
    "children of tagged multi-arch indexes; then set readonly back to false and restart it "
    "again. The restart also clears Distribution's in-memory blob descriptor cache, which "
    "otherwise keeps reporting the collected blobs as present."
)


@dataclass(frozen=True)
class CollectionReport:
    """Storage size around one collector run. ``freed_bytes`` is measured, not estimated."""

    storage_bytes_before: int
    storage_bytes_after: int
    blobs_marked: int | None
    blobs_deleted: int | None
    summary: str

    @property
    def freed_bytes(self) -> int:
        return self.storage_bytes_before - self.storage_bytes_after


def ensure_writable(services: Services) -> None:
    """Raise MaintenanceError while maintenance is active."""
    state = services.maintenance
    if state.active:
        raise MaintenanceError(
            f"The registry is in read-only maintenance ({state.reason}); pushes and "
            f"deletions are rejected until it ends. Retry in {RETRY_AFTER} s.",
            retry_after=RETRY_AFTER,
        )


async def start_registry(supervisor: RegistrySupervisor, database: sessionmaker[Session]) -> None:
    """Start the embedded registry, read-only when the operator's maintenance is stored.

    Starting it read-only at once leaves no moment in which a client with a
    token from before the stop could push.
    """
    stored = await asyncio.to_thread(_load_operator_maintenance, database)
    if stored is None:
        await supervisor.start()
        return

    logger.info("Starting the registry read-only: the operator's maintenance is on")
    # On a supervisor that has not started yet, restart() only starts the process.
    await supervisor.restart(read_only=True)


class MaintenanceControl:
    """Switches the registry between read-write and read-only maintenance."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.operator_hold = False
        self._operation_reason: str | None = None

    @property
    def embedded(self) -> bool:
        return self.services.supervisor is not None

    @property
    def storage(self) -> RegistryStorage:
        supervisor = self.services.supervisor
        if supervisor is None:
            raise UnsupportedOperationError(
                EXTERNAL_GC_INSTRUCTIONS, error_code="EXTERNAL_REGISTRY"
            )
        return RegistryStorage(supervisor.storage_dir)

    async def set_operator_hold(self, active: bool, reason: str, *, set_by: str) -> None:
        """Turn the operator's maintenance on or off and store it.

        The caller holds the operation lock.
        """
        if active == self.operator_hold:
            if active:
                self.services.maintenance.reason = reason
                await self._store_hold(reason, set_by)
            return

        if active:
            await self._enter(reason)
            self.operator_hold = True
            await self._store_hold(reason, set_by)
            logger.info("Maintenance turned on by an operator: %s", reason)
            return

        await asyncio.to_thread(self._clear_stored_hold)
        self.operator_hold = False
        await self._leave()
        logger.info("Maintenance turned off by an operator")

    async def restore_operator_hold(self) -> None:
        """Restore the operator's maintenance stored before the last stop, if there is one.

        ``start_registry`` has started the registry read-only already. If it was
        started otherwise, this switches it.
        """
        stored = await asyncio.to_thread(_load_operator_maintenance, self.services.database)
        if stored is None:
            return
        reason, since = stored

        supervisor = self.services.supervisor
        if supervisor is not None and not supervisor.read_only:
            await supervisor.restart(read_only=True)
        self.services.maintenance = Maintenance(active=True, reason=reason, since=since)
        self.operator_hold = True
        logger.info(
            "Restored the operator's maintenance, on since %s: %s. The registry stays "
            "read-only until 'nerve-registry maintenance off'.",
            since.isoformat(),
            reason,
        )

    @asynccontextmanager
    async def window(self, reason: str) -> AsyncIterator[None]:
        """Keep the registry read-only for the block. The caller holds the operation lock.

        Inside an operator's maintenance the registry already is read-only and
        stays so afterwards.
        """
        if self.operator_hold:
            yield
            return

        await self._enter(reason)
        try:
            yield
        finally:
            await self._leave()

    async def collect(self) -> CollectionReport:
        """Run the collector and measure the storage around it. Call inside ``window``."""
        supervisor = self.services.supervisor
        if supervisor is None:
            raise UnsupportedOperationError(
                EXTERNAL_GC_INSTRUCTIONS, error_code="EXTERNAL_REGISTRY"
            )
        binary = shutil.which(self.services.settings.registry_binary)
        if binary is None:
            raise EmbeddedRegistryError(
                f"The registry program {self.services.settings.registry_binary!r} was not "
                "found on PATH, so garbage collection cannot run."
            )

        storage = RegistryStorage(supervisor.storage_dir)
        before = await asyncio.to_thread(storage.size)

        # Distribution 2.8's collector fails with "Path not found" when the blob or the
        # repository directory is missing, as in a new registry.
        if not storage.blobs_dir.is_dir():
            logger.info("The registry stores no blobs; there is nothing to collect")
            return CollectionReport(before, before, 0, 0, "No blobs are stored.")
        storage.repositories_dir.mkdir(parents=True, exist_ok=True)

        result = await collect_garbage(
            binary,
            supervisor.config_path,
            log_path=self.services.settings.log_dir / COLLECTION_LOG,
            time_limit=COLLECTION_TIMEOUT,
        )
        after = await asyncio.to_thread(storage.size)
        logger.info("Garbage collection freed %d bytes (%d -> %d)", before - after, before, after)
        return CollectionReport(
            storage_bytes_before=before,
            storage_bytes_after=after,
            blobs_marked=result.blobs_marked,
            blobs_deleted=result.blobs_deleted,
            summary=result.summary,
        )

    async def _store_hold(self, reason: str, set_by: str) -> None:
        since = self.services.maintenance.since or utcnow()
        await asyncio.to_thread(self._save_hold, reason, since, set_by)

    def _save_hold(self, reason: str, since: datetime, set_by: str) -> None:
        with transaction(self.services.database) as session:
            store.save_operator_maintenance(session, reason=reason, since=since, set_by=set_by)

    def _clear_stored_hold(self) -> None:
        with transaction(self.services.database) as session:
            store.clear_operator_maintenance(session)

    async def _enter(self, reason: str) -> None:
        # 1. Announce maintenance first, so that new writes through this service stop.
        self.services.maintenance = Maintenance(active=True, reason=reason, since=utcnow())

        # 2. Restart the embedded registry read-only; writes already running drain first.
        supervisor = self.services.supervisor
        if supervisor is None:
            return
        try:
            await supervisor.restart(read_only=True)
        except BaseException:
            logger.exception("Switching the registry to read-only mode failed")
            await self._restore()
            self.services.maintenance = Maintenance()
            raise

    async def _leave(self) -> None:
        try:
            await self._restore()
        finally:
            self.services.maintenance = Maintenance()

    async def _restore(self) -> None:
        """Restart the registry read-write, trying again after a failure."""
        supervisor = self.services.supervisor
        if supervisor is None:
            return

        for attempt in range(1, RESTORE_ATTEMPTS + 1):
            try:
                await supervisor.restart(read_only=False)
                return
            except EmbeddedRegistryError as error:
                logger.error(
                    "Switching the registry back to read-write failed (attempt %d of %d): %s",
                    attempt,
                    RESTORE_ATTEMPTS,
                    error,
                )
                if attempt == RESTORE_ATTEMPTS:
                    raise
                await asyncio.sleep(RESTORE_DELAY)


def _load_operator_maintenance(database: sessionmaker[Session]) -> tuple[str, datetime] | None:
    """Return the reason and start of the stored operator's maintenance, or None."""
    with transaction(database) as session:
        record = store.get_operator_maintenance(session)
        return (record.reason, record.since) if record is not None else None
