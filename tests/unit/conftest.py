"""The fast tier: pure logic, and the bus and service runtime against one real nats-server (no PostgreSQL, no
stack). `python3 run.py test --fast` runs only this directory; it takes seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from shared.runtime.embedded import EmbeddedNats, free_port


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    data = Path(tmp_path_factory.mktemp("nats"))
    (data / "logs").mkdir()
    server = EmbeddedNats(data, free_port()).start()
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.drain()
