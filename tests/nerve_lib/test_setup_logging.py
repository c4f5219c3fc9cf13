"""setup_logging on a root logger without handlers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nerve_lib import setup_logging


@pytest.fixture
def bare_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], logging.Logger]]:
    """Return a function that empties the root logger's handlers and sets it to WARNING.

    Tests call it in their body, because pytest adds its capture handlers to the
    root logger after the fixtures have run. The handlers and level come back
    afterwards.
    """
    root = logging.getLogger()
    saved_level = root.level
    handlers: list[logging.Handler] = []

    def isolate() -> logging.Logger:
        monkeypatch.setattr(root, "handlers", handlers)
        root.setLevel(logging.WARNING)
        return root

    yield isolate

    for handler in handlers:
        if type(handler) in (logging.StreamHandler, logging.FileHandler):
            handler.close()
    root.setLevel(saved_level)


def stream_handlers(root: logging.Logger) -> list[logging.Handler]:
    return [
        handler
        for handler in root.handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
    ]


def file_handlers(root: logging.Logger) -> list[logging.FileHandler]:
    return [handler for handler in root.handlers if isinstance(handler, logging.FileHandler)]


def test_adds_stream_handler_at_info(bare_root: Callable[[], logging.Logger]) -> None:
    root = bare_root()
    setup_logging()

    handlers = stream_handlers(root)
    assert len(handlers) == 1
    assert handlers[0].level == logging.INFO
    assert root.level == logging.INFO


def test_level_from_environment(
    bare_root: Callable[[], logging.Logger], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = bare_root()
    monkeypatch.setenv("LOGGING_LEVEL", "debug")

    setup_logging(compact=True)

    assert stream_handlers(root)[0].level == logging.DEBUG


def test_second_call_adds_nothing(bare_root: Callable[[], logging.Logger]) -> None:
    root = bare_root()
    setup_logging()
    setup_logging()

    assert len(root.handlers) == 1


def test_existing_stream_handler_is_kept(bare_root: Callable[[], logging.Logger]) -> None:
    root = bare_root()
    existing = logging.StreamHandler()
    root.addHandler(existing)

    setup_logging()

    assert root.handlers == [existing]


def test_invalid_level_raises(
    bare_root: Callable[[], logging.Logger], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare_root()
    monkeypatch.setenv("LOGGING_LEVEL", "chatty")

    with pytest.raises(ValueError, match="LOGGING_LEVEL"):
        setup_logging()


def test_debug_log_file_gets_debug_records(
    bare_root: Callable[[], logging.Logger], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = bare_root()
    log_file = tmp_path / "debug.log"
    monkeypatch.setenv("DEBUG_LOG_FILE", str(log_file))

    setup_logging()
    setup_logging()
    logging.getLogger("nerve_lib.test").debug("wire detail %d", 42)

    assert len(file_handlers(root)) == 1
    assert root.level == logging.DEBUG
    assert stream_handlers(root)[0].level == logging.INFO
    file_handlers(root)[0].flush()
    assert "wire detail 42" in log_file.read_text(encoding="utf-8")
