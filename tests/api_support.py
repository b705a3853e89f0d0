"""The actor system the API tests share per module: the step graphs plus the API test graphs.
Import `system` into a test module to override conftest's fixture of the same name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors import ActorSystem, Settings
from tests.graphs.api_graphs import API_GRAPHS


@pytest.fixture(scope="module")
def system() -> Iterator[ActorSystem]:
    settings = Settings(idle_timeout=5.0, webhook_backoff=0.05, webhook_timeout=5.0)
    with ActorSystem(API_GRAPHS, settings=settings) as actor_system:
        yield actor_system
