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

DEFAULT_DB = Path("data/unify.duckdb")

SCHEMA_VERSION = 1

# table name -> column definitions. The order of columns is the order of CSV exports.
TABLES: dict[str, str] = {
    "meta": """
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    """,
    "contacts": """
        contact_id VARCHAR PRIMARY KEY,
        email VARCHAR NOT NULL UNIQUE,
        first_name VARCHAR,
        last_name VARCHAR,
        title VARCHAR,
        country VARCHAR,
        email_domain VARCHAR,
        is_free_mail BOOLEAN NOT NULL DEFAULT FALSE,
        domain VARCHAR,
        sf_contact_id VARCHAR,
        sf_lead_id VARCHAR,
        hs_contact_id VARCHAR,
        sf_email_opt_out BOOLEAN NOT NULL DEFAULT FALSE,
        sf_do_not_email BOOLEAN NOT NULL DEFAULT FALSE,
        hs_opt_out BOOLEAN NOT NULL DEFAULT FALSE,
        last_contacted_at TIMESTAMP,
        job_changed_at TIMESTAMP,
        created_at TIMESTAMP
    """,
    "company_records": """
        record_id VARCHAR PRIMARY KEY,
        crm VARCHAR NOT NULL,
        crm_id VARCHAR NOT NULL,
        name VARCHAR,
        website VARCHAR,
        domain VARCHAR,
        is_customer BOOLEAN NOT NULL DEFAULT FALSE,
        industry VARCHAR,
        employees INTEGER
    """,
    "opportunities": """
        opportunity_id VARCHAR PRIMARY KEY,
        crm VARCHAR NOT NULL,
        crm_id VARCHAR NOT NULL,
        record_id VARCHAR,
        name VARCHAR,
        stage VARCHAR,
        is_closed BOOLEAN NOT NULL,
        is_won BOOLEAN NOT NULL DEFAULT FALSE,
        close_date DATE,
        amount DOUBLE,
        created_at TIMESTAMP
    """,
    "enrollments": """
        enrollment_id VARCHAR PRIMARY KEY,
        contact_id VARCHAR NOT NULL,
        play_id VARCHAR,
        node_id VARCHAR,
        sequence_id VARCHAR NOT NULL,
        state VARCHAR NOT NULL,
        completion_reason VARCHAR,
        current_step INTEGER NOT NULL DEFAULT 0,
        next_step_at TIMESTAMP,
        enrolled_at TIMESTAMP,
        updated_at TIMESTAMP
    """,
    "events": """
        event_id VARCHAR PRIMARY KEY,
        occurred_at TIMESTAMP NOT NULL,
        type VARCHAR NOT NULL,
        contact_id VARCHAR,
        email VARCHAR,
        sequence_id VARCHAR,
        enrollment_id VARCHAR,
        step INTEGER,
        source VARCHAR,
        actor VARCHAR,
        text VARCHAR,
        label VARCHAR,
        detail VARCHAR
    """,
    "execution_log": """
        log_id VARCHAR PRIMARY KEY,
        "at" TIMESTAMP NOT NULL,
        contact_id VARCHAR NOT NULL,
        play_id VARCHAR,
        node_id VARCHAR,
        sequence_id VARCHAR,
        step INTEGER,
        outcome VARCHAR NOT NULL,
        blocking VARCHAR,
        settings_version INTEGER
    """,
    "settings_versions": """
        version INTEGER PRIMARY KEY,
        created_at TIMESTAMP NOT NULL,
        effective_at TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        note VARCHAR,
        document VARCHAR NOT NULL
    """,
    "settings_changes": """
        change_id VARCHAR PRIMARY KEY,
        version INTEGER NOT NULL,
        object_type VARCHAR NOT NULL,
        object_id VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        before VARCHAR,
        after VARCHAR,
        actor VARCHAR NOT NULL,
        changed_at TIMESTAMP NOT NULL,
        effective_at TIMESTAMP NOT NULL,
        note VARCHAR
    """,
    "audit_log": """
        audit_id VARCHAR PRIMARY KEY,
        "at" TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        role VARCHAR,
        action VARCHAR NOT NULL,
        target VARCHAR,
        detail VARCHAR
    """,
    "crm_writebacks": """
        writeback_id VARCHAR PRIMARY KEY,
        "at" TIMESTAMP NOT NULL,
        crm VARCHAR NOT NULL,
        crm_object VARCHAR,
        crm_id VARCHAR,
        field VARCHAR NOT NULL,
        value VARCHAR,
        contact_id VARCHAR,
        email VARCHAR,
        event_id VARCHAR,
        status VARCHAR NOT NULL
    """,
    # long-running actions (bulk unenroll): the selected set is computed once into job_items and
    # each batch commits on its own, so a failed job resumes where it stopped (lifecycle.resume_job)
    "jobs": """
        job_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        params VARCHAR,
        total INTEGER NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        status VARCHAR NOT NULL,
        error VARCHAR
    """,
    "job_items": """
        job_id VARCHAR NOT NULL,
        position INTEGER NOT NULL,
        item_id VARCHAR NOT NULL,
        PRIMARY KEY (job_id, position)
    """,
}

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
RECORD_TABLES = ("contacts", "company_records", "opportunities", "enrollments")


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
