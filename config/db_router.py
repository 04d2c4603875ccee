"""Read replica routing for heavy read-only work (metrics, the dashboard).

With DATABASE_REPLICA_URL set, the settings add a "replica" database and this router. Nothing
goes to the replica by default: a replica lags, and most reads must see the request's own
writes. Code that tolerates lag (metric computations) runs inside `reading_from_replica()`;
its ORM reads and the raw SQL that asks `read_alias()` for a connection go to the replica,
while writes always go to "default".
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connections

REPLICA = "replica"
_use_replica: ContextVar[bool] = ContextVar("use_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def reading_from_replica():
    """Send the enclosed reads to the replica when one is configured (no-op otherwise)."""
    token = _use_replica.set(True)
    try:
        yield
    finally:
        _use_replica.reset(token)


def read_alias() -> str:
    """The database alias a lag-tolerant read should use right now."""
    return REPLICA if _use_replica.get() and replica_configured() else "default"


def read_connection():
    """The connection for raw read-only SQL (`with read_connection().cursor() as cursor`)."""
    return connections[read_alias()]


class ReadReplicaRouter:
    """Reads inside reading_from_replica() go to the replica; everything else to default."""

    def db_for_read(self, model, **hints):
        return read_alias()

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases hold the same data (a streaming replica of one primary).
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
