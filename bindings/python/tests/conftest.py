"""Shared fixtures of the binding's tests. Run with the built extension on
PYTHONPATH (make check does: bindings/python/run-tests.sh)."""
import os
import sys

import pytest

import quire


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "t.quire")


@pytest.fixture
def db(path):
    d = quire.open(path, create=True)
    yield d
    d.close()


def child_env():
    """The environment for a child python: this one's, with the quire
    package found as here (sanitizer preloads are inherited)."""
    env = dict(os.environ)
    pkgdir = os.path.dirname(os.path.dirname(quire.__file__))
    env["PYTHONPATH"] = pkgdir + os.pathsep + env.get("PYTHONPATH", "")
    return env


PYTHON = sys.executable
