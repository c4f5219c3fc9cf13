"""Run a real embedded registry (``docker-registry``) for tests, on a free port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nerve_registry.config import Settings
from nerve_registry.embedded.supervisor import RegistrySupervisor
from tests.support.loop import LoopThread
from tests.support.ports import free_port


@dataclass
class RunningRegistry:
    """A started RegistrySupervisor and the loop thread that drives it."""

    supervisor: RegistrySupervisor
    settings: Settings
    loop: LoopThread

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        return self.supervisor.url

    @property
    def host_port(self) -> str:
        """``127.0.0.1:PORT``, the registry part of references such as ``HOST_PORT/team/app:v1``."""
        return f"127.0.0.1:{self.settings.registry_port}"

    def restart(self, *, read_only: bool | None = None) -> None:
        self.loop.run(self.supervisor.restart(read_only=read_only))

    def stop(self) -> None:
        self.loop.run(self.supervisor.stop())


def registry_settings(data_dir: Path, **overrides: object) -> Settings:
    """Return Settings for an embedded registry under ``data_dir`` on a free port."""
    settings = Settings(data_dir=data_dir, registry_port=free_port())
    for name, value in overrides.items():
        setattr(settings, name, value)
    return settings


@contextmanager
def running_registry(data_dir: Path, loop: LoopThread) -> Iterator[RunningRegistry]:
    """Start a registry with its data under ``data_dir``, yield it, and stop it afterwards."""
    settings = registry_settings(data_dir)
    supervisor = RegistrySupervisor(settings)
    loop.run(supervisor.start())
    try:
        yield RunningRegistry(supervisor=supervisor, settings=settings, loop=loop)
    finally:
        loop.run(supervisor.stop())
