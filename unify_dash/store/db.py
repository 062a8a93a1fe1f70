"""The DuckDB schema and connection helpers.

Every object of the product brief has a table here. Values always travel as
parameters; identifiers are quoted by :func:`ident` and only ever come from
whitelists in code (this schema, :mod:`unify_dash.model.vocabulary`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from unify_dash.errors import UnifyError, ValidationError
from unify_dash.store import schema

DEFAULT_DB = Path("data/unify.duckdb")

SCHEMA_VERSION = 1

# table name -> column definitions (DDL), from the one declaration in store/schema.py.
TABLES: dict[str, str] = {t: schema.ddl(t) for t in schema.TABLES}

# the keys of the bulk tables (schema.key_indexes), then the secondary indexes; a load builds those of the
# tables it writes after its inserts (io/workspace.py)
INDEXES = [statement for t in schema.BULK_TABLES for _, statement in schema.key_indexes(t)] + [
    *schema.secondary_index_statements()]


# Tables a workspace load replaces (records). Everything else is append-only history.
RECORD_TABLES = schema.RECORD_TABLES


def ident(name: str) -> str:
    """Quote an identifier. Only call with names from a whitelist in code."""
    if not name or "\x00" in name:
        raise ValueError(f"bad identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def schema_gaps(con: duckdb.DuckDBPyConnection) -> list[tuple[str, schema.Column]]:
    """The columns schema.py declares that the database's existing tables lack (a file made by an older
    unify-dash), as ``(table, Column)`` pairs."""
    have = set(con.execute("""SELECT table_name, column_name FROM duckdb_columns()
                              WHERE database_name = current_database() AND schema_name = 'main'""").fetchall())
    tables = {t for t, _ in have}
    return [(t, c) for t in schema.TABLES if t in tables for c in schema.columns(t) if (t, c.name) not in have]


class OlderDatabase(UnifyError):
    """The file's record tables come from an older unify-dash: a load rebuilds them (the history stays)."""


def _upgrade(con: duckdb.DuckDBPyConnection, *, rebuilding_records: bool) -> None:
    """Columns added to the schema since a database was made: a history table gets each one (NULL in the
    rows before, which then read as unknown); a record table is rebuilt by the next load, so a file whose
    record tables lack a column is refused, with what to do, unless this is that load."""
    stale = []
    for table, column in schema_gaps(con):
        keyed = any(word in column.constraints for word in ("PRIMARY KEY", "UNIQUE"))
        if table in RECORD_TABLES or keyed:
            stale.append(f"{table}.{column.name}")
            continue
        default = re.search(r"DEFAULT\s+(\S+)", column.constraints)
        con.execute(f"ALTER TABLE {ident(table)} ADD COLUMN {ident(column.name)} {column.type}"
                    + (f" DEFAULT {default[1]}" if default else ""))
    if stale and not rebuilding_records:
        _refuse_older(con)


def create_schema(con: duckdb.DuckDBPyConnection, *, rebuilding_records: bool = False) -> None:
    """Create the tables a database lacks and upgrade an older file's (all or nothing)."""
    with transaction(con):
        for table, columns in TABLES.items():
            con.execute(f"CREATE TABLE IF NOT EXISTS {ident(table)} ({columns})")
        _upgrade(con, rebuilding_records=rebuilding_records)
        for name in schema.RETIRED_INDEXES:
            con.execute(f"DROP INDEX IF EXISTS {ident(name)}")
        # a missing index of a table with rows (a load stopped before building it: io/workspace.build_indexes)
        # is built below, alone, so that it fits the memory limit; of an empty table, here
        later = pending_indexes(con)
        for statement in INDEXES:
            if statement not in later:
                con.execute(statement)
        con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
            [str(SCHEMA_VERSION)],
        )
    for statement in later:
        with transaction(con):
            con.execute(statement)
        checkpoint(con)


def pending_indexes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The statements of :data:`INDEXES` not built on a table that has rows: a load committed but stopped
    before building them (:class:`unify_dash.io.workspace.IndexesPending`); the next writable open builds
    them (:func:`create_schema`), as ``unify-dash upgrade`` does."""
    have = built_indexes(con)
    return [s for s in INDEXES if index_name(s) not in have and _has_rows(con, index_table(s))]


def built_indexes(con: duckdb.DuckDBPyConnection, table: str | None = None) -> set[str]:
    """The names of the indexes the database has (on ``table`` only, when given)."""
    sql = "SELECT index_name FROM duckdb_indexes() WHERE database_name = current_database()"
    params = [] if table is None else [table]
    return {r[0] for r in con.execute(sql + ("" if table is None else " AND table_name = ?"), params).fetchall()}


def keys_enforced(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` refuses a duplicate key: every key index of a bulk table is built (a load that stopped
    before building them leaves it without, :func:`pending_indexes`); other tables declare their keys."""
    names = [name for name, _ in schema.key_indexes(table)]
    if not names:
        return True
    have = built_indexes(con, table)
    return all(name in have for name in names)


_INDEX_STATEMENT = re.compile(r"CREATE (?:UNIQUE )?INDEX IF NOT EXISTS (\w+) ON (\w+)\(")


def index_name(statement: str) -> str:
    """The name an index statement of :data:`INDEXES` creates."""
    return _INDEX_STATEMENT.match(statement).group(1)


def index_table(statement: str) -> str:
    """The table an index statement of :data:`INDEXES` is on."""
    return _INDEX_STATEMENT.match(statement).group(2)


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return con.execute(f"SELECT EXISTS (SELECT 1 FROM {ident(table)})").fetchone()[0]


def cli_upgrade(args) -> int:
    """``unify-dash upgrade [--db PATH] [--json]``: add the columns an older database file lacks (its
    history tables; record tables are rebuilt by ``unify-dash load``). Nothing else changes."""
    require_database(args.db)
    probe = connect(args.db, read_only=True, rebuilding_records=True)
    try:
        gaps = [f"{t}.{c.name}" for t, c in schema_gaps(probe)]
    finally:
        probe.close()
    connect(args.db).close()
    if getattr(args, "json", False):
        print(json.dumps({"db": str(args.db), "added": gaps}))
    else:
        print(f"{args.db}: " + (f"added {', '.join(gaps)}" if gaps else "up to date, nothing to add"))
    return 0


# --- opening, committing: DuckDB's failures as one sentence saying what to do --------------------------


class DatabaseError(UnifyError):
    """The database file cannot be used now: missing, held by another process, disk full, not a database."""


_MEMORY_USED = re.compile(r"\(([\d.]+ \w+/[\d.]+ \w+ used)\)")  # DuckDB: "(2.7 GiB/2.7 GiB used)"
_LOCK = re.compile(r"Conflicting lock is held in (?P<program>.*?)(?: \(PID (?P<pid>\d+)\))?(?: by user \S+?)?"
                   r"\.(?: See also|\s*$)")


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _space(path: Path) -> tuple[str, int]:
    """("X MB free on /mount", bytes free) for the disk holding ``path`` (or its nearest existing folder)."""
    folder = path.parent.resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    mount = folder
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    return f"{_mb(free)} free on {mount}", free


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def user_error(err: BaseException, path: str | os.PathLike | None, *, committed: bool = False) -> UnifyError:
    """A DuckDB (or OS) error on the database file ``path`` as a :class:`DatabaseError` that says what
    happened and what to do. ``committed``: the failure came after a commit (the change is saved in
    the write-ahead log, not yet in the database file)."""
    text = str(err)
    first = text.splitlines()[0] if text else type(err).__name__
    where = Path(str(path)) if path not in (None, ":memory:") else None
    lock = _LOCK.search(text)
    if lock:
        holder = f"PID {lock['pid']}, {lock['program']}" if lock["pid"] else lock["program"]
        return DatabaseError(f"the database {path} is in use by another process ({holder}): a unify-dash command "
                             "or the app (make run) has it open; wait for it to finish or stop it, then run this again")
    if "No space left" in text or getattr(err, "errno", None) == 28:
        if where is None:
            return DatabaseError(f"no space left on the disk: {first}; free disk space and run this again")
        free, _ = _space(where)
        # an estimate, measured on tmpfs mounts: a load rewrites the record tables, so DuckDB needs room for
        # about one more copy of the database file (never less than 10 MB) until its checkpoint completes
        need = _mb(max(_size(where), 10e6))
        if committed or "replaying WAL" in text:
            return DatabaseError(
                f"no space left on the disk of {where} ({free}): the change is committed in its write-ahead log "
                f"({_mb(_size(Path(f'{where}.wal')))}) but could not be written into the database file, which "
                f"opens read-only only until there is room; free at least {need} (an estimate) and run any "
                "unify-dash command on it (opening it finishes the write)")
        return DatabaseError(f"no space left on the disk of {where} ({free}); nothing was changed: free at least "
                             f"{need} (an estimate: the size of the database file, at least 10 MB) and run this again")
    if isinstance(err, duckdb.OutOfMemoryException) or "Out of Memory Error" in text:
        limit = _MEMORY_USED.search(text)
        return DatabaseError(
            f"not enough memory for {'the database ' + str(path) if where else 'this database'}: DuckDB reached its "
            f"memory limit{f' ({limit[1]})' if limit else ''}; nothing was changed: raise the limit (--memory-limit, "
            f"e.g. 8GB or 50%, or {MEMORY_ENV}) or free memory on the machine, and run this again")
    if "not a valid DuckDB database" in text:
        return DatabaseError(f"{path} is not a DuckDB database; expected a database made by unify-dash load "
                             "(or the name of a new file for unify-dash load)")
    if isinstance(err, PermissionError) or "Permission denied" in text:
        return DatabaseError(f"cannot open the database {path}: permission denied; expected a file this user "
                             "may read and write")
    return DatabaseError(f"cannot use the database{f' {path}' if path not in (None, ':memory:') else ''}: {first}")


def require_database(path: str | os.PathLike | None) -> None:
    """Refuse a database file that does not exist (read-only verbs never create an empty one)."""
    if path in (None, ":memory:") or Path(str(path)).is_file():
        return
    raise DatabaseError(f"no database at {path}: run unify-dash load DIR --db {path} first (or give --db the "
                        "path of an existing database)")


# --- memory: DuckDB works within a limit and spills to a temporary folder beyond it -----------------------

MEMORY_ENV = "UNIFY_MEMORY_LIMIT"  # e.g. 4GB, 1500MB or 30% (of this machine's memory)
MEMORY_FRACTION = 0.25  # the default limit: a quarter of the machine's memory (shared machines)
# a load's default is at most this: a 10M load fits in 3.8 GB of RSS at 3 GB and is no slower than at 6 GB
# (docs/benchmarks.md "Loading", round 7); the engine and the scheduler keep the quarter (a 10M evaluation
# takes twice as long at 3 GB)
LOAD_MEMORY_CAP = 3_000_000_000
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB|%)\s*$", re.I)
_UNITS = {"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def machine_memory() -> int:
    """Bytes of memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_limit(value: str | None = None, *, load: bool = False) -> str:
    """The DuckDB ``memory_limit`` to use, as ``"<n>MB"``: ``value`` (``--memory-limit``), else the
    ``UNIFY_MEMORY_LIMIT`` environment variable, else :data:`MEMORY_FRACTION` of the machine's memory
    (for a ``load``, at most :data:`LOAD_MEMORY_CAP`).
    A size (``4GB``, ``1500MB``, ``2GiB``) or a share of the machine (``30%``); at least 64 MB.

    Raises :class:`~unify_dash.errors.ValidationError` naming where a bad value came from."""
    where = "--memory-limit"
    if value is None:
        value, where = os.environ.get(MEMORY_ENV) or None, MEMORY_ENV
    if value is None:
        size = machine_memory() * MEMORY_FRACTION
        return f"{max(64, int((min(size, LOAD_MEMORY_CAP) if load else size) / 1e6))}MB"
    m = _MEMORY_RE.match(str(value))
    if not m or (m.group(2) == "%" and not 0 < float(m.group(1)) <= 100):
        raise ValidationError(f"{where}: {value!r} is not a memory size; expected a size such as 4GB or 1500MB, "
                              "or a share of the machine's memory such as 30%")
    amount, unit = float(m.group(1)), m.group(2).upper()
    size = machine_memory() * amount / 100 if unit == "%" else amount * _UNITS[unit]
    return f"{max(64, int(size / 1e6))}MB"


def connect(path: str | os.PathLike | None = None, *, read_only: bool = False,
            rebuilding_records: bool = False, memory: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open (and create or upgrade the schema of) a database. ``None`` or ``":memory:"`` is in memory.
    ``rebuilding_records``: the caller is a load, which rebuilds record tables an older file lacks
    columns of (:class:`OlderDatabase` otherwise; read-only, the same check without the upgrade).
    DuckDB works within :func:`memory_limit` (``memory``, else ``UNIFY_MEMORY_LIMIT``, else a quarter of
    the machine), spilling to a temporary folder beyond it.

    Raises :class:`DatabaseError` when the file cannot be opened (another process holds it, no space to
    replay its write-ahead log, not a database, no permission)."""
    target = ":memory:" if path in (None, ":memory:") else str(path)
    limit = memory_limit(memory)  # a bad value is told before anything is opened
    try:
        if target != ":memory:" and not read_only:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(target, read_only=read_only)
    except (duckdb.Error, OSError) as err:
        raise user_error(err, target) from None
    con.execute(f"SET memory_limit = '{limit}'")
    try:
        if not read_only:
            create_schema(con, rebuilding_records=rebuilding_records)
        elif not rebuilding_records and schema_gaps(con):
            _refuse_older(con)
    except duckdb.Error as err:
        con.close()
        raise user_error(err, target) from None
    except UnifyError:
        con.close()
        raise
    return con


def _refuse_older(con: duckdb.DuckDBPyConnection) -> None:
    gaps = schema_gaps(con)
    path = database_file(con)
    names = ", ".join(f"{t}.{c.name}" for t, c in gaps[:5]) + (f" and {len(gaps) - 5} more" if len(gaps) > 5 else "")
    if any(t in RECORD_TABLES for t, _ in gaps):
        raise OlderDatabase(f"the database {path} was made by an older unify-dash: its records lack {names}; load "
                            f"the workspace into it again (unify-dash load DIR --db {path}): a load rebuilds the "
                            "records and keeps the history (opt-outs, sends, settings, audit log)")
    raise OlderDatabase(f"the database {path} was made by an older unify-dash (it lacks {names}); "
                        f"run unify-dash upgrade --db {path} to add the new columns (nothing else changes)")


def database_file(con: duckdb.DuckDBPyConnection) -> str | None:
    """The file of ``con``'s database (``None`` in memory)."""
    try:
        row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row and row[0] else None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends, roll back on any exception.

    A failed commit (disk full) raises :class:`DatabaseError`; DuckDB has then kept nothing of the block."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    try:
        con.execute("COMMIT")
    except duckdb.Error as err:
        path = database_file(con)
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # a failed commit has already ended the transaction
        raise user_error(err, path) from None


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write committed changes from the write-ahead log into the database file now, so that a commit
    that fits in the log but not in the file is told (disk full) instead of failing the next open."""
    path = database_file(con)  # asked first: a failed checkpoint invalidates the connection
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error as err:
        if isinstance(err, duckdb.TransactionException) and "No space" not in str(err):
            return  # other sessions' transactions are open (the app): DuckDB checkpoints when they end
        raise user_error(err, path, committed=True) from None


def verify_reopens(path: str | os.PathLike, generation_expected: int) -> None:
    """Open the closed database file again and check that it holds the committed ``data_generation``.
    Raises :class:`DatabaseError` when it does not open or holds something else."""
    con = connect(path)
    try:
        found = generation(con)
    finally:
        con.close()
    if found != generation_expected:
        raise DatabaseError(f"the database {path} reopened without the change (data generation {found}, "
                            f"expected {generation_expected}); run the command again")


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(path: str | os.PathLike | None) -> threading.RLock:
    """The process-wide write lock of a database file: every writer in this process (the app's
    sessions, the service's scheduler worker and forwarded CLI commands) holds it, because
    DuckDB shares one instance per file inside a process and concurrent writers could conflict."""
    key = ":memory:" if path in (None, ":memory:") else os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


class Database:
    """One DuckDB database shared by every browser session of the app.

    A DuckDB connection must not be used from several threads at once; each
    query takes its own cursor (:meth:`cursor`), and writes are serialised by the
    file's process-wide lock (:func:`write_lock`) so that two writers never interleave
    a transaction.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = path
        self._con = connect(path)
        self.write_lock = threading.RLock() if path in (None, ":memory:") else write_lock(path)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    def close(self) -> None:
        self._con.close()


# --- meta / clock --------------------------------------------------------------------------------


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


def meta_values(con: duckdb.DuckDBPyConnection, *keys: str) -> tuple:
    """The ``meta`` values of ``keys`` (None for a missing key), in one query: what a cache key reads
    (the clock with the generation) on every page run and evaluation. ``meta`` holds a few rows: reading
    them all plans and runs in about half the time of a filtered aggregate per key."""
    values = dict(con.execute("SELECT key, value FROM meta").fetchall())
    return tuple(values.get(k) for k in keys)


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


MAX_UTC_OFFSET = dt.timedelta(hours=14)  # the widest real UTC offsets are -12:00 and +14:00


def parse_timestamp(value, what: str, expected: str = "a date and time (ISO 8601, e.g. 2026-11-02T09:30)") -> dt.datetime:
    """A datetime, date or ISO 8601 text (``Z`` or an offset allowed) as naive UTC.

    Raises :class:`~unify_dash.errors.ValidationError` naming ``what`` when it is none of those.
    """
    if isinstance(value, dt.datetime):
        offset = value.utcoffset()
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise ValidationError(f"{what}: the offset {offset} is more than 14 hours; expected {expected}")
        try:
            return value if offset is None else value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:00-02:00 is in the year 10000
            raise ValidationError(f"{what}: {value.isoformat()} is outside the years 1 to 9999 in UTC; "
                                  f"expected {expected}") from None
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


def bump_deliveries(con: duckdb.DuckDBPyConnection) -> None:
    """A second counter, bumped when delivered sends are recorded after their tick (the outbox's
    ``send`` events): they change what pages count (Metrics, logs) but no evaluation input, so the
    scheduler's incremental evaluation, which keys on :func:`generation`, is not disturbed. The app's
    caches key on both."""
    value = get_meta(con, "delivery_generation")
    set_meta(con, "delivery_generation", str(int(value) + 1 if value else 1))


def rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[dict]:
    """The rows of a query as dicts (column name -> value)."""
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def one(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> dict | None:
    """The first row of a query as a dict, or None."""
    found = rows(con, sql, params)
    return found[0] if found else None


# --- inserts of rows whose key may already be there ------------------------------------------------------

# keys per ``IN (?, ...)`` list: DuckDB answers such a list of constants from the column's ART index (an
# "Index Scan" in EXPLAIN ANALYZE, no row group read; a plain EXPLAIN shows a scan), about 10 us a key
# mostly binding the parameters; a join or ``IN (SELECT ...)`` scans the whole table
KEY_LOOKUP_CHUNK = 2000
# up to this many new rows the keys are looked up in the index; more and one scan of the table's keys
# (``ON CONFLICT``, about 40-60 ns a row of the table: 0.1-0.15 s for the 2.3M events of the 1M demo) is cheaper
KEY_LOOKUP_MAX = 20_000


def existing_keys(con: duckdb.DuckDBPyConnection, table: str, key: str, values: list) -> set:
    """The ``values`` that ``table.key`` already holds, looked up in the key's index (``table`` and
    ``key`` named in code)."""
    found: set = set()
    for i in range(0, len(values), KEY_LOOKUP_CHUNK):
        part = values[i:i + KEY_LOOKUP_CHUNK]
        found.update(r[0] for r in con.execute(
            f"SELECT {ident(key)} FROM {ident(table)} WHERE {ident(key)} IN ({', '.join('?' * len(part))})",
            part).fetchall())
    return found


def insert_new(con: duckdb.DuckDBPyConnection, table: str, key: str, select: str, params: list | None = None, *,
               columns: list[str] | None = None, checked: bool = True) -> list:
    """``INSERT INTO table [(columns)] <select> ON CONFLICT (key) DO NOTHING``, returning the keys
    written: the rows of ``select`` (SQL written in code, its values as ``params``; its output has a
    column named ``key``, or is named by ``columns``) whose key ``table`` does not hold yet.

    DuckDB runs ``ON CONFLICT`` as a join with a scan of every key of the table (0.1-0.15 s for the
    2.3M events of the 1M demo, growing with every tick); a scheduler tick writes a few thousand rows, so
    their keys are looked up in the key's index instead (:func:`existing_keys`) and the others written
    by a plain ``INSERT`` (the unique index still refuses a duplicate: a writer that added one since
    fails the statement, never writes it twice). A large batch, or one that repeats a key, takes the
    ``ON CONFLICT`` statement itself. ``select`` runs once: its rows are kept in a temporary table
    for the look-up and the insert.

    ``checked=False``, for a writer that expects every key to be new and redoes its transaction checked
    when one is not (the scheduler's tick, :func:`unify_dash.scheduler.run._carry_out`): one plain
    ``INSERT``, no look-up (which costs about 10 us a key: at 1M, 89 ms against 17 ms for a tick's 4,300
    events). A key already there fails it with :class:`duckdb.ConstraintException` ("Duplicate key"),
    which aborts the transaction: nothing is written twice either way."""
    params = list(params or [])
    cols = f" ({', '.join(ident(c) for c in columns)})" if columns else ""
    k, t = ident(key), ident(table)
    if not checked:
        return [r[0] for r in con.execute(f"INSERT INTO {t}{cols} {select} RETURNING {k}", params).fetchall()]
    scratch = ident(f"_insert_new_{table}")
    named = f" s({', '.join(ident(c) for c in columns)})" if columns else ""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {scratch} AS SELECT * FROM ({select}){named}", params)
    try:
        n, keys = con.execute(f"SELECT count(*), list(DISTINCT {k}) FILTER (WHERE {k} IS NOT NULL) "
                              f"FROM {scratch}").fetchall()[0]
        if not n:
            return []
        keys = keys or []
        if n != len(keys) or n > KEY_LOOKUP_MAX:
            return [r[0] for r in con.execute(f"INSERT INTO {t}{cols} SELECT * FROM {scratch} "
                                              f"ON CONFLICT ({k}) DO NOTHING RETURNING {k}").fetchall()]
        there = existing_keys(con, table, key, keys)
        if not there:
            con.execute(f"INSERT INTO {t}{cols} SELECT * FROM {scratch}")
            return keys
        con.execute(f"INSERT INTO {t}{cols} SELECT * FROM {scratch} WHERE {k} NOT IN "
                    "(SELECT unnest(?::VARCHAR[]))", [sorted(there)])
        return [x for x in keys if x not in there]
    finally:
        try:
            con.execute(f"DROP TABLE IF EXISTS {scratch}")
        except duckdb.TransactionException:
            pass  # a failed statement aborted the transaction: its rollback drops the table (the error is the one to tell)
