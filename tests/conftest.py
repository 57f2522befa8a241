from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.browser import browser, page  # noqa: F401  (fixtures for the page tests)
from tests.client import OPEN
from tests.components import RunningNode, postgres_url, running_node, running_redis
from tests.mailbox import Mailbox, running_mailbox


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return postgres_url(tmp_path_factory.mktemp("pg"))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for the tests that need one (started here unless REDIS_URL is set)."""
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def node(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """One real node for the tests that only need one."""
    with running_node(database_url, tmp_path_factory.mktemp("node")) as running:
        yield running


@pytest.fixture
def artifacts() -> Path:
    folder = Path(__file__).resolve().parent.parent / "artifacts"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().ws.close()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""
    with running_mailbox() as box:
        yield box
