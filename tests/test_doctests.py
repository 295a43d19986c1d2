"""The examples in docstrings are run, so they stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cds_service

MODULES = sorted(info.name for info in pkgutil.walk_packages(cds_service.__path__, "cds_service.")
                 if not info.ispkg)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
