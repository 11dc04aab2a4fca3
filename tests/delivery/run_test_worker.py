"""A worker process for the kill tests: the production worker loop (`bot.tasks.work`) on a queue
of test jobs. Usage: python -m tests.delivery.run_test_worker REDIS_URL TOKEN
"""

from __future__ import annotations

import os
import sys

from redis import Redis

from bot.logging_setup import configure_logging
from bot.tasks import RqExecutor, work


def main(redis_url: str, token: str) -> None:
    configure_logging("INFO")
    executor = RqExecutor(Redis.from_url(redis_url), queue_name=f"q-{token}", prefix=token,
                          perform="tests.delivery.killable_targets.perform")
    work(executor, name=f"{token}-w{os.getpid()}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
