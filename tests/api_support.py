"""The actor system the API tests share per module: the step graphs plus the API test graphs, on the
backend `SWITCHBOARD_TEST_STORAGE` names. Import `system` into a test module to override conftest's
fixture of the same name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors import ActorSystem, Settings
from tests.backends import backend_settings
from tests.conftest import STORAGE
from tests.graphs.api_graphs import API_GRAPHS


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActorSystem]:
    with backend_settings(STORAGE, tmp_path_factory.mktemp("data")) as storage:
        settings = Settings(idle_timeout=5.0, webhook_backoff=0.05, webhook_timeout=5.0, **storage)
        with ActorSystem(API_GRAPHS, settings=settings) as actor_system:
            yield actor_system
