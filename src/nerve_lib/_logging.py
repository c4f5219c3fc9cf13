"""Logging set-up for scripts that use the client without configuring logging themselves."""

from __future__ import annotations

import logging
import os

_LEVEL_VARIABLE = "LOGGING_LEVEL"
_FILE_VARIABLE = "DEBUG_LOG_FILE"

_COMPACT_FORMAT = "%(levelname)-7s %(name)s: %(message)s"
_FULL_FORMAT = "%(asctime)s %(levelname)-7s %(name)s %(filename)s:%(lineno)d: %(message)s"


def setup_logging(compact: bool = False) -> None:
    """Add a stream handler and, if requested, a debug file handler to the root logger.

    The stream handler goes to stderr at the level named by the environment
    variable LOGGING_LEVEL (DEBUG, INFO, WARNING, ERROR, CRITICAL or a number,
    default INFO). ``compact`` leaves out the time, file name and line number.
    When DEBUG_LOG_FILE names a file, a second handler appends every record
    from DEBUG up to that file.

    Calling this again adds nothing: the stream handler is skipped when the root
    logger already has a stream handler (any, not only one added here), and the
    file handler when it already has a file handler. The root logger's level is
    lowered to the lowest handler level, so that DEBUG records reach the file.

    Raises:
        ValueError: LOGGING_LEVEL is set to something that is not a log level.
    """
    root = logging.getLogger()

    if not _has_stream_handler(root):
        stream_handler = logging.StreamHandler()
        stream_handler.setLevel(_level_from_environment())
        stream_handler.setFormatter(logging.Formatter(_COMPACT_FORMAT if compact else _FULL_FORMAT))
        root.addHandler(stream_handler)
        _lower_root_level(root, stream_handler.level)

    log_file = os.environ.get(_FILE_VARIABLE, "")
    if log_file and not _has_file_handler(root):
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(logging.Formatter(_FULL_FORMAT))
        root.addHandler(file_handler)
        _lower_root_level(root, logging.DEBUG)


def _has_stream_handler(logger: logging.Logger) -> bool:
    # FileHandler is a subclass of StreamHandler but does not count as console output.
    return any(
        isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
        for handler in logger.handlers
    )


def _has_file_handler(logger: logging.Logger) -> bool:
    return any(isinstance(handler, logging.FileHandler) for handler in logger.handlers)


def _level_from_environment() -> int:
    text = os.environ.get(_LEVEL_VARIABLE, "INFO").strip().upper()
    if text.isdigit():
        return int(text)

    levels = logging.getLevelNamesMapping()
    if text not in levels:
        message = (
            f"{_LEVEL_VARIABLE}={text!r} is not a valid log level: "
            "set it to DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
        raise ValueError(message)
    return levels[text]


def _lower_root_level(root: logging.Logger, level: int) -> None:
    # A root logger at NOTSET (0) already passes every record, so it stays at NOTSET.
    if root.level > level:
        root.setLevel(level)
