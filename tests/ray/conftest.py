"""One local Ray for the Ray tests (2 CPUs, no dashboard), with the token in the environment.

Ray tests are marked ``ray`` and skipped where the ``ray`` extra is not installed. The
workers Ray starts inherit the driver's environment, so ``$TRUTO_API_TOKEN`` is set before
``ray.init``: that is how the token reaches the read tasks (never inside a task). The
fixture is package-scoped: one Ray for every test here, shut down before the rest of the
suite goes on, so its processes do not linger beside unrelated tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import TOKEN

ray = pytest.importorskip("ray")
ray_data = pytest.importorskip("ray.data")


@pytest.fixture(scope="package")
def local_ray() -> Iterator[Any]:
    previous = os.environ.get("TRUTO_API_TOKEN")
    os.environ["TRUTO_API_TOKEN"] = TOKEN
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    ray_data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop("TRUTO_API_TOKEN", None)
        else:
            os.environ["TRUTO_API_TOKEN"] = previous
