from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from nerve_registry.store.database import (
    create_database_engine,
    create_schema,
    session_factory,
)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A fresh SQLite state database in a file, as the service uses it."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'state.db'}")
    create_schema(engine)
    yield session_factory(engine)
    engine.dispose()
