"""Another database session for tests that look at locks or visibility from outside the
test's own connection (pytest-django's), on the same test database."""

import psycopg
from django.db import connection


def other_session_dsn():
    """The connection string of the test database, for psycopg.connect."""
    settings = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"],
        host=settings["HOST"], port=settings["PORT"],
    )  # fmt: skip
