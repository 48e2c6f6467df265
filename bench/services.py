"""The production shape's services: a PostgreSQL database and a Redis database of its own.

The servers come from the variables the template tests read (.ci/run starts both):
TEMPLATE_TEST_POSTGRES_URL (default postgres://postgres:postgres@127.0.0.1:5432) and
TEMPLATE_TEST_REDIS_URL (default redis://127.0.0.1:6379). The benchmark creates its own
database and drops it afterwards, and uses Redis database numbers that the template tests do
not (they use 1, 2, 12, 13 and 14), flushing only those.
"""

import contextlib
import os
from dataclasses import dataclass

from environment import BenchmarkBroken

POSTGRES_URL = os.environ.get(
    "TEMPLATE_TEST_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432"
).rstrip("/")
REDIS_URL = os.environ.get("TEMPLATE_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
# Redis database numbers: run.py's, and compare.py's two sides.
REDIS_DATABASES = {"run": 15, "base": 10, "changed": 11}


@dataclass
class Services:
    """One PostgreSQL database and one Redis database number, made empty for one bake."""

    name: str  # part of the database's name, and the key of REDIS_DATABASES
    database: str = ""

    @property
    def database_url(self) -> str:
        return f"{POSTGRES_URL}/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"{REDIS_URL}/{REDIS_DATABASES[self.name]}"

    def start(self) -> None:
        """Create the database (lowercase letters, digits and _) and empty the Redis database."""
        import psycopg
        from psycopg import sql

        database = f"api_key_bench_{self.name}_{os.getpid()}"
        try:
            with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except psycopg.Error as error:
            reason = str(error).strip().splitlines()[0]
            raise BenchmarkBroken(
                f"could not create a database on the PostgreSQL of TEMPLATE_TEST_POSTGRES_URL "
                f"({POSTGRES_URL.split('@')[-1]}): {reason}\nStart it (.ci/run does), or run "
                "with --shape sqlite."
            ) from error
        self.database = database  # dropped by stop()
        self.flush_redis()

    def flush_redis(self) -> None:
        import redis

        try:
            redis.Redis.from_url(self.redis_url).flushdb()
        except redis.RedisError as error:
            raise BenchmarkBroken(
                f"the Redis of TEMPLATE_TEST_REDIS_URL ({REDIS_URL.split('@')[-1]}) did not "
                f"answer: {error}\nStart it (.ci/run does), or run with --shape sqlite."
            ) from error

    def stop(self) -> None:
        """Drop the database, connections and all, and empty the Redis database again."""
        if not self.database:
            return
        import psycopg
        import redis
        from psycopg import sql

        name = sql.Identifier(self.database)
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        self.database = ""
        with contextlib.suppress(redis.RedisError):  # gone: nothing of ours is left in it
            redis.Redis.from_url(self.redis_url).flushdb()
