"""The DuckDB schema and connection helpers.

Every object of the product brief has a table here. Values always travel as
parameters; identifiers are quoted by :func:`ident` and only ever come from
whitelists in code (this schema, :mod:`unify_dash.model.vocabulary`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from unify_dash.errors import ValidationError
from unify_dash.store import schema

DEFAULT_DB = Path("data/unify.duckdb")

SCHEMA_VERSION = 1

# table name -> column definitions (DDL), from the one declaration in store/schema.py.
TABLES: dict[str, str] = {t: schema.ddl(t) for t in schema.TABLES}

INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_contacts_domain ON contacts(domain)",
    "CREATE INDEX IF NOT EXISTS idx_records_domain ON company_records(domain)",
    "CREATE INDEX IF NOT EXISTS idx_opps_record ON opportunities(record_id)",
    "CREATE INDEX IF NOT EXISTS idx_enrollments_contact ON enrollments(contact_id)",
    "CREATE INDEX IF NOT EXISTS idx_events_contact ON events(contact_id)",
    "CREATE INDEX IF NOT EXISTS idx_events_email ON events(email)",
    "CREATE INDEX IF NOT EXISTS idx_log_contact ON execution_log(contact_id)",
]

# Tables a workspace load replaces (records). Everything else is append-only history.
RECORD_TABLES = schema.RECORD_TABLES


def ident(name: str) -> str:
    """Quote an identifier. Only call with names from a whitelist in code."""
    if not name or "\x00" in name:
        raise ValueError(f"bad identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {ident(table)} ({columns})")
    for statement in INDEXES:
        con.execute(statement)
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
        [str(SCHEMA_VERSION)],
    )


def connect(path: str | os.PathLike | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and create the schema of) a database. ``None`` or ``":memory:"`` is in memory."""
    target = ":memory:" if path in (None, ":memory:") else str(path)
    if target != ":memory:" and not read_only:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(target, read_only=read_only)
    if not read_only:
        create_schema(con)
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")


class Database:
    """One DuckDB database shared by every browser session of the app.

    A DuckDB connection must not be used from several threads at once; each
    query takes its own cursor (:meth:`cursor`), and writes are serialised by a
    lock so that two sessions never interleave a transaction.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = path
        self._con = connect(path)
        self.write_lock = threading.RLock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    def close(self) -> None:
        self._con.close()


# --- meta / clock --------------------------------------------------------------------------------


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def now(con: duckdb.DuckDBPyConnection) -> dt.datetime:
    """The workspace clock. A workspace may pin it (``now:`` in workspace.yaml, and
    ``unify-dash sends --until`` advances it); otherwise it is the wall clock (UTC, naive)."""
    value = get_meta(con, "clock")
    if value:
        return dt.datetime.fromisoformat(value)
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def set_clock(con: duckdb.DuckDBPyConnection, when: dt.datetime) -> None:
    set_meta(con, "clock", when.replace(microsecond=0).isoformat(sep=" "))


def parse_timestamp(value, what: str, expected: str = "a date and time (ISO 8601, e.g. 2026-11-02T09:30)") -> dt.datetime:
    """A datetime, date or ISO 8601 text (``Z`` or an offset allowed) as naive UTC.

    Raises :class:`~unify_dash.errors.ValidationError` naming ``what`` when it is none of those.
    """
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str) and value.strip():
        try:
            return parse_timestamp(dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")
                                                             .replace("z", "+00:00")), what, expected)
        except ValueError:
            pass
    raise ValidationError(f"{what}: expected {expected}, got {value!r}")


def dumps(value) -> str:
    """JSON for detail columns, stable (sorted keys) so that reloads compare equal."""
    return json.dumps(value, sort_keys=True, default=str)


def generation(con: duckdb.DuckDBPyConnection) -> int:
    """A counter bumped by every write that changes evaluation inputs (records, opt-outs, settings).

    Caches of evaluations key on it, so no page ever shows a stale answer after a write.
    """
    value = get_meta(con, "data_generation")
    return int(value) if value else 0


def bump_generation(con: duckdb.DuckDBPyConnection) -> int:
    value = generation(con) + 1
    set_meta(con, "data_generation", str(value))
    return value


def rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[dict]:
    """The rows of a query as dicts (column name -> value)."""
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def one(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> dict | None:
    """The first row of a query as a dict, or None."""
    found = rows(con, sql, params)
    return found[0] if found else None
