"""The names that existing scripts import from nerve_lib."""

from __future__ import annotations

import pickle
from pathlib import Path

import requests

import nerve_lib
import nerve_lib.manage_registry

EXPECTED_NAMES = ["CheckStatusCodeError", "InternalRegistry", "MSHandle", "setup_logging"]


def test_all_lists_public_names_sorted() -> None:
    assert nerve_lib.__all__ == EXPECTED_NAMES


def test_each_public_name_imports() -> None:
    for name in EXPECTED_NAMES:
        assert getattr(nerve_lib, name, None) is not None, name


def test_from_imports_work() -> None:
    from nerve_lib import CheckStatusCodeError, InternalRegistry, MSHandle, setup_logging

    assert callable(setup_logging)
    assert issubclass(CheckStatusCodeError, Exception)
    assert issubclass(MSHandle, requests.Session)
    assert isinstance(InternalRegistry, type)


def test_internal_registry_in_manage_registry() -> None:
    assert nerve_lib.manage_registry.InternalRegistry is nerve_lib.InternalRegistry


def test_package_ships_py_typed() -> None:
    assert (Path(nerve_lib.__file__).parent / "py.typed").is_file()


def test_check_status_code_error_attributes() -> None:
    error = nerve_lib.CheckStatusCodeError("GET x failed", 418, "teapot body")

    assert str(error) == "GET x failed"
    assert error.value == "GET x failed"
    assert error.status_code == 418
    assert error.response_text == "teapot body"


def test_check_status_code_error_pickles() -> None:
    error = nerve_lib.CheckStatusCodeError("POST y failed", 503, "{}")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - data made in this test

    assert copy.value == error.value
    assert copy.status_code == error.status_code
    assert copy.response_text == error.response_text
