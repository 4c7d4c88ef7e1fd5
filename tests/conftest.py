"""Shared pytest configuration.

Also used by the library-only run on Python 3.11: never import homeassistant here.
"""

from __future__ import annotations

from collections.abc import Iterator
import os
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, settings
import pytest

if TYPE_CHECKING:
    from tests.servers.mongo import MongoServer
    from tests.servers.postgres import PostgresServer

# CI machines are small and shared: no per-example deadline there, and print the
# blob needed to reproduce a failure. Select another profile with HYPOTHESIS_PROFILE.
settings.register_profile(
    "ci",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# -- database servers, shared by the output, end-to-end and web tests ----------------------------
# One private server per test session (per xdist worker), started only when a test asks; each
# test makes its own databases. The modules are imported here lazily: they skip a test when the
# server is not installed, and the HA run never needs them.


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """Run one PostgreSQL cluster for the session."""
    from tests.servers.postgres import postgres_server  # noqa: PLC0415 - see above

    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def mongo_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """Run one nx-27017 (MongoDB wire protocol) server for the session."""
    from tests.servers.mongo import mongo_server  # noqa: PLC0415 - see above

    with mongo_server(tmp_path_factory.mktemp("mongo")) as server:
        yield server


@pytest.fixture
def pg(pg_server: PostgresServer) -> PostgresServer:
    """Return the cluster, running (a test that stopped it and failed may have left it down)."""
    if pg_server.process is None:
        pg_server.start()
    return pg_server


@pytest.fixture
def mongo(mongo_session: MongoServer) -> MongoServer:
    """Return the Mongo server, running."""
    if mongo_session.process is None:
        mongo_session.start()
    return mongo_session
