"""Shared fixtures. Prefect's settings are fixed here, before anything imports prefect, so a test
session never touches the developer's own Prefect home, results or database."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="civic-briefs-tests-"))
os.environ["PREFECT_HOME"] = str(_SESSION_TMP / "prefect")
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(_SESSION_TMP / "results")
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
# No developer key or .env may turn a test into a call to a paid service, and no test writes to
# the checkout's own database or audio folder.
for _name in list(os.environ):
    if _name.startswith("BRIEFS_"):
        del os.environ[_name]
os.environ["BRIEFS_DATABASE_URL"] = str(_SESSION_TMP / "default.db")
os.environ["BRIEFS_STORAGE_PATH"] = str(_SESSION_TMP / "default-audio")
os.environ["BRIEFS_SEGMENT_STORE_PATH"] = str(_SESSION_TMP / "default-segments")

import pytest  # noqa: E402

from civic_briefs import db  # noqa: E402
from civic_briefs.settings import Settings, get_settings  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config):
    if not (SHARED_DATA / "billstatus-expected.json").is_file():
        raise pytest.UsageError(
            f"The real BILLSTATUS test data is not at {SHARED_DATA}: the tests read ../shared/data "
            "beside the checkout (it is not copied into the project).")


@pytest.fixture
def settings_env(tmp_path, monkeypatch):
    """Point the process-wide settings at a fresh database and audio folder in ``tmp_path``.

    Returns a function that sets more ``BRIEFS_*`` variables and re-reads the settings.
    """
    def apply(**values: str) -> Settings:
        for key, value in values.items():
            monkeypatch.setenv(f"BRIEFS_{key.upper()}", str(value))
        get_settings.cache_clear()
        return get_settings()

    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    apply(database_url=tmp_path / "briefs.db", storage_path=tmp_path / "audio", segment_store_path=tmp_path / "segments")
    yield apply
    get_settings.cache_clear()


@pytest.fixture
def conn(settings_env):
    """An open connection to a migrated, empty database file."""
    db.init_db()
    with db.connection() as connection:
        yield connection


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API for the session (the test harness: a temporary server on loopback)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real S3 HTTP endpoint on loopback (moto's threaded server) for the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_admin_client(endpoint: str):
    """A plain boto3 client (own dummy credentials, no environment) to set up and inspect moto."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="admin",
                        aws_secret_access_key="admin", config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="session")
def standins_server():
    """The loopback stand-ins for the Anthropic, ElevenLabs and Brave APIs, for the session."""
    from tests.standins import run_standins

    with run_standins() as running:
        yield running


@pytest.fixture
def standins(standins_server):
    """The stand-ins with no recorded requests and no queued faults."""
    standins_server.reset()
    return standins_server
