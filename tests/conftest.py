"""Shared fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL tests read the server's URL from ``ITERO_TEST_POSTGRES_URL`` and run in a fresh database created for
the test session (dropped at the end). Without the variable they skip with a reason, unless
``ITERO_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), where a missing server is an error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "ITERO_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("ITERO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{PG_ENV} is not set but ITERO_REQUIRE_POSTGRES=1: the PostgreSQL tests must run here")
        pytest.skip(f"PostgreSQL store tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    url = make_url(base)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    name = f"itero_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A storage URL for each backend: a new SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'itero.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def study_name(request: pytest.FixtureRequest) -> str:
    """A study name unique to the test (PostgreSQL databases are shared by a session's tests)."""
    return f"{request.node.name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERO_ARTIFACTS", str(tmp_path) + "/artifacts")


BROWSER_ENV = "ITERO_REQUIRE_BROWSER"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium for Playwright (never a browser download). Without it (or without the playwright
    package) browser tests skip with a reason, unless ``ITERO_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where that
    is an error."""
    import importlib.util
    import shutil

    path = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
    missing = None
    if importlib.util.find_spec("playwright") is None:
        missing = "the playwright package (dev extras)"
    elif path is None:
        missing = "Chromium at /usr/bin/chromium (apt-get install chromium)"
    if missing is not None:
        if os.environ.get(BROWSER_ENV) == "1":
            pytest.fail(f"{BROWSER_ENV}=1 but the browser tests cannot run: they need {missing}")
        pytest.skip(f"needs {missing}")
    assert path is not None
    return path
