"""The evaluation pass on Apache Spark, with DuckDB's exact answers (docs/scale-out.md).

The SQL builders are the engine's own (:mod:`unify_dash.model.vocabulary` for the domain stats and the
criteria, :func:`~unify_dash.engine.evaluator._relation_sql` for the mask relation,
:func:`~unify_dash.engine.evaluator.groups_sql` and ``members_sql`` for the groups): :func:`to_spark`
parses that DuckDB SQL with sqlglot, binds its ``?`` parameters inside the parsed tree (each
placeholder node is replaced by a literal node, in the order of the placeholders in the text; no value
is pasted into SQL text) and writes Spark SQL. :class:`SparkExecutor` runs it on a ``SparkSession``
over the Parquet tables of a lake (``unify-dash export-lake``): the per-contact group table is written
back to the lake, only the groups (a few thousand rows) come back, so :func:`~unify_dash.engine.impact`
and the what-if layer are unchanged. Drill-downs page the group table by group id
(:class:`SparkMembers`); :func:`explain_lake` pulls the contact's domain into a local DuckDB and runs
today's :func:`~unify_dash.engine.explain` there (every rule reads only the contact's own domain).

pyspark and sqlglot are the ``spark`` extra (``pip install .[spark]``); Spark needs Java 17 or newer.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from unify_dash.engine import evaluator
from unify_dash.engine.evaluator import Evaluation, PassResult
from unify_dash.errors import NotFound, UnifyError
from unify_dash.model import settings as settings_mod
from unify_dash.model import vocabulary as vocab
from unify_dash.model.settings import Settings
from unify_dash.store import db, schema

DEFAULT_MASTER = "local[*]"
EVAL_DIR = "_eval"  # under the lake: the per-contact group tables of Spark evaluations
INSTALL_HINT = "install the spark extra (pip install '.[spark]') and Java 17 or newer (openjdk-17-jre-headless)"
# the lake's tables the evaluation reads; the others are exported too but optional here
REQUIRED = ("meta", "contacts", "company_records", "opportunities", "events", "settings_versions",
            "settings_changes")

# --- DuckDB SQL -> Spark SQL ------------------------------------------------------------------------------

_DIALECT = None


def _sqlglot():
    try:
        import sqlglot
        from sqlglot import exp
    except ImportError:  # pragma: no cover - depends on the installation
        raise UnifyError(f"the Spark engine needs sqlglot: {INSTALL_HINT}") from None
    return sqlglot, exp


def _numbered_dialect():
    """DuckDB's dialect whose ``?`` placeholders remember where they stand in the text, so that the
    parameters bind in text order whatever order the tree is walked in (sqlglot walks breadth-first)."""
    global _DIALECT
    if _DIALECT is None:
        _sqlglot()
        from sqlglot import exp
        from sqlglot.dialects.duckdb import DuckDB
        from sqlglot.tokens import TokenType

        class NumberedDuckDB(DuckDB):
            class Parser(DuckDB.Parser):
                PLACEHOLDER_PARSERS = {
                    **DuckDB.Parser.PLACEHOLDER_PARSERS,
                    TokenType.PLACEHOLDER: lambda self: self.expression(
                        exp.Placeholder(this=f"p{self._prev.start}")),
                }

        _DIALECT = NumberedDuckDB
    return _DIALECT


def _literal(value):
    """A parameter value as a sqlglot literal node of the type DuckDB binds it as."""
    _, exp = _sqlglot()
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, np.integer)):
        return exp.Literal.number(int(value))
    if isinstance(value, (float, np.floating)):
        return exp.cast(exp.Literal.string(repr(float(value))), "DOUBLE")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[_literal(v) for v in value])
    raise UnifyError(f"cannot bind a parameter of type {type(value).__name__} for Spark")


def bind(sql: str, params: list | None = None):
    """The parsed tree of DuckDB ``sql`` with its ``?`` parameters bound as literal nodes."""
    sqlglot, exp = _sqlglot()
    tree = sqlglot.parse_one(sql, read=_numbered_dialect())
    holders = sorted(tree.find_all(exp.Placeholder), key=lambda p: int(p.this[1:]))
    params = list(params or [])
    if len(holders) != len(params):
        raise UnifyError(f"the SQL has {len(holders)} parameters, {len(params)} were given")
    for node, value in zip(holders, params, strict=True):
        node.replace(_literal(value))
    return tree


def to_spark(sql: str, params: list | None = None, *, select_only: bool = False) -> str:
    """DuckDB ``sql`` with ``params`` -> Spark SQL. ``select_only``: of a ``CREATE TABLE ... AS SELECT``,
    only the SELECT (Spark keeps it as a view)."""
    _, exp = _sqlglot()
    tree = bind(sql, params)
    if select_only and isinstance(tree, exp.Create):
        tree = tree.expression
    return tree.sql(dialect="spark")


# --- the session and the lake ---------------------------------------------------------------------------

_SESSIONS: dict[str, object] = {}
_ACTIVE: dict[str, str] = {}  # master -> token of the lake whose tables the session's views are
_LOCK = threading.Lock()


def session(master: str = DEFAULT_MASTER):
    """The process's ``SparkSession`` (one per master): UTC, timestamps without time zone (as DuckDB's)."""
    with _LOCK:
        spark = _SESSIONS.get(master)
        if spark is not None:
            return spark
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise UnifyError(f"the Spark engine needs pyspark: {INSTALL_HINT}") from None
        builder = (SparkSession.builder.master(master).appName("unify-dash")
                   .config("spark.sql.session.timeZone", "UTC")
                   .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.ansi.enabled", "false"))
        if master.startswith("local"):  # one machine: few shuffle partitions, no 200-task stages; the
            # driver is the executor too: room for the plans of 100+ rules (default heap 1g)
            builder = (builder.config("spark.sql.shuffle.partitions", "8")
                       .config("spark.driver.memory", "3g")
                       .config("spark.driver.extraJavaOptions", "-Xss16m"))
        try:
            spark = builder.getOrCreate()
        except Exception as err:  # pyspark raises its own runtime errors when Java is missing
            raise UnifyError(f"Spark did not start ({str(err).splitlines()[0][:200]}): {INSTALL_HINT}") from None
        spark.sparkContext.setLogLevel("ERROR")
        _SESSIONS[master] = spark
        return spark


_SPARK_TYPES = {"VARCHAR": "STRING", "BOOLEAN": "BOOLEAN", "DOUBLE": "DOUBLE", "INTEGER": "INT",
                "BIGINT": "BIGINT", "TIMESTAMP": "TIMESTAMP_NTZ", "DATE": "DATE"}


def spark_schema(table: str) -> str:
    """The Spark DDL of a workspace table (store/schema.py): what a lake's Parquet file holds."""
    return ", ".join(f"`{c.name}` {_SPARK_TYPES[c.type]}" for c in schema.columns(table))


class Lake:
    """A workspace's tables as Parquet (``DIR/<table>.parquet``, a file or a folder of files), registered
    as Spark temporary views under the workspace's table names."""

    def __init__(self, path, *, master: str = DEFAULT_MASTER):
        self.path = Path(path)
        missing = [t for t in REQUIRED if not (self.path / f"{t}.parquet").exists()]
        if missing:
            raise UnifyError(f"{self.path} is not a lake of a workspace: "
                             + ", ".join(f"{t}.parquet" for t in missing)
                             + " missing; write one with unify-dash export-lake DIR --db PATH")
        self.spark = session(master)
        self.master = master
        # names the lake as written (a lake written again by export-lake is a new one)
        marker = self.path / "_unify_lake.json"
        stamp = marker.stat().st_mtime_ns if marker.exists() else uuid.uuid4().hex
        self.token = f"lake:{self.path.resolve()}:{stamp}"
        self._control = None
        self._activate()

    def _activate(self) -> None:
        """Register this lake's tables as the session's views (another lake may have taken the names)."""
        if _ACTIVE.get(self.master) == self.token:
            return
        for t in schema.TABLES:
            p = self.path / f"{t}.parquet"
            if p.exists():  # the schema's types, so that Spark infers nothing (no job per table)
                self.spark.read.schema(spark_schema(t)).parquet(str(p)).createOrReplaceTempView(t)
        _ACTIVE[self.master] = self.token

    def sql(self, sql: str, params: list | None = None, *, select_only: bool = False):
        """A Spark DataFrame of DuckDB ``sql`` (translated, parameters bound in the tree)."""
        self._activate()
        return self.spark.sql(to_spark(sql, params, select_only=select_only))

    def pull(self, con, table: str, where: str = "", params: list | None = None) -> int:
        """Copy the rows of lake ``table`` that ``where`` keeps into the same table of DuckDB ``con``."""
        cols = schema.names(table)
        col_sql = ", ".join(db.ident(c) for c in cols)
        rows = self.sql(f"SELECT {col_sql} FROM {db.ident(table)} t" + (f" WHERE {where}" if where else ""),
                        params).toArrow()
        if rows.num_rows:
            con.register("unify_pulled", rows)
            try:
                con.execute(f"INSERT INTO {db.ident(table)} ({col_sql}) SELECT {col_sql} FROM unify_pulled")
            finally:
                con.unregister("unify_pulled")
        return rows.num_rows

    def control(self):
        """A local in-memory DuckDB with the lake's small tables (meta, settings): the clock, the
        generation and the settings in effect are read there with the same code as in a workspace."""
        if self._control is None:
            con = db.connect(None)
            con.execute("DELETE FROM meta")
            for t in ("meta", "settings_versions", "settings_changes"):
                self.pull(con, t)
            self._control = con
        return self._control


# --- the pass on Spark -----------------------------------------------------------------------------------


MEMBERS_SCHEMA = "contact_id STRING, email STRING, group_id INT, opt_source STRING"


class SparkMembers:
    """The per-contact group table of one Spark evaluation, in the lake: pages of it by group id."""

    def __init__(self, lake: Lake, path: Path, view: str):
        self.lake, self.path, self.view = lake, path, view

    def page(self, gids: list[int], limit: int, offset: int) -> list[tuple]:
        """``(contact_id, email, group_id, opt_source, first_name, last_name, title, domain)`` of the contacts
        of groups ``gids``, ordered by email and contact id, as drill-down's DuckDB query returns them."""
        rows = self.lake.sql(
            f"""SELECT p.contact_id, p.email, p.group_id, p.opt_source, c.first_name, c.last_name, c.title,
                       c.domain
                FROM (SELECT contact_id, email, group_id, opt_source FROM {self.view}
                      WHERE list_contains(?, group_id)
                      ORDER BY email, contact_id LIMIT ? OFFSET ?) p
                LEFT JOIN contacts c ON c.contact_id = p.contact_id
                ORDER BY p.email, p.contact_id""", [[int(g) for g in gids], int(limit), int(offset)]).collect()
        return [tuple(r) for r in rows]

    def locate(self, email: str) -> tuple | None:
        """``(contact_id, group_id, domain)`` of the contact with this (normalised) email."""
        rows = self.lake.sql(f"SELECT m.contact_id, m.group_id, c.domain FROM {self.view} m "
                             "JOIN contacts c ON c.contact_id = m.contact_id WHERE m.email = ?", [email]).collect()
        return tuple(rows[0]) if rows else None

    def drop(self) -> None:
        self.lake.spark.catalog.dropTempView(self.view)
        shutil.rmtree(self.path, ignore_errors=True)


class SparkExecutor:
    """The evaluation pass on Spark over a :class:`Lake`."""

    name = "spark"

    def __init__(self, lake: Lake):
        self.lake = lake

    def run(self, settings: Settings, as_of: dt.datetime) -> PassResult:
        from pyspark import StorageLevel

        spark = self.lake.spark
        name = "ev_" + uuid.uuid4().hex[:12]
        stats, raw, groups, members = (f"{name}_stats", f"{name}_raw", f"{name}_groups", name)
        self.lake.sql(vocab.domain_stats_sql(stats), select_only=True).createOrReplaceTempView(stats)
        sql, params, W, Wa = evaluator._relation_sql(settings, as_of, stats)
        relation = self.lake.sql(sql, params).persist(StorageLevel.MEMORY_AND_DISK)
        relation.createOrReplaceTempView(raw)
        keys = evaluator.group_keys(W, Wa)
        try:
            gdf = self.lake.sql(evaluator.groups_sql(raw, keys))
            rows = sorted(gdf.collect(), key=lambda r: r["group_id"])
            cols = ["group_id", *keys, "n"]
            g = {c: np.array([r[c] for r in rows], dtype=_dtype(c)) for c in cols}
            spark.createDataFrame(rows, gdf.schema).createOrReplaceTempView(groups)
            path = self.lake.path / EVAL_DIR / name
            self.lake.sql(evaluator.members_sql(raw, groups, keys, ordered=False)) \
                .write.mode("overwrite").parquet(str(path))
            spark.read.schema(MEMBERS_SCHEMA).parquet(str(path)).createOrReplaceTempView(members)
        finally:
            relation.unpersist()
            for view in (raw, groups, stats):
                spark.catalog.dropTempView(view)
        return PassResult(g, W, Wa, str(path), stats, groups, "spark", SparkMembers(self.lake, path, members))


def _dtype(column: str):
    if column == "opted":
        return bool
    return np.int32 if column == "group_id" else np.int64


def evaluate_lake(lake: Lake, *, settings: Settings | None = None, version: int | None = None,
                  as_of: dt.datetime | None = None) -> Evaluation:
    """:func:`unify_dash.engine.evaluate` on Spark: the same :class:`Evaluation` (groups and masks)."""
    started = time.perf_counter()
    ctl = lake.control()
    as_of = evaluator._as_of(ctl, as_of)
    if settings is None:
        version, settings = settings_mod.settings_at(ctl, as_of)
    settings = settings.in_force_at(as_of)  # expired "Email is not" overrides no longer apply
    res = SparkExecutor(lake).run(settings, as_of)
    return evaluator.from_groups(settings, version, as_of, db.generation(ctl), lake.token, res, started)


_CACHE: dict = {}  # (lake token, master, settings version, generation, as-of minute) -> Evaluation
CACHE_SIZE = 2


def evaluation_lake(lake: Lake, *, as_of: dt.datetime | None = None) -> Evaluation:
    """:func:`evaluate_lake` under the settings in effect, cached per process like
    :func:`unify_dash.engine.evaluation` (an evicted evaluation's group table is removed from the lake)."""
    ctl = lake.control()
    as_of = evaluator._as_of(ctl, as_of)
    version, settings = settings_mod.settings_at(ctl, as_of)
    key = (lake.token, lake.master, version, db.generation(ctl), as_of.replace(second=0, microsecond=0))
    with _LOCK:
        ev = _CACHE.get(key)
    if ev is None or not Path(ev.table).exists():
        ev = evaluate_lake(lake, settings=settings, version=version, as_of=as_of)
        with _LOCK:
            _CACHE[key] = ev
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE))).store.drop()
    return ev


# --- explain: the contact's domain in a local DuckDB ------------------------------------------------------

# table -> the rows of one domain's slice (parameters: the domain, or the contact id without a domain)
_SLICE = {
    "contacts": "{who}",
    "company_records": "t.domain = ?",
    "opportunities": "t.record_id IN (SELECT record_id FROM company_records WHERE domain = ?)",
    "events": "lower(trim(t.email)) IN (SELECT email FROM contacts c WHERE {who_c}) "
              "OR t.contact_id IN (SELECT contact_id FROM contacts c WHERE {who_c})",
    "enrollments": "t.contact_id IN (SELECT contact_id FROM contacts c WHERE {who_c})",
}


def domain_slice(lake: Lake, contact_id: str, domain: str | None):
    """A local in-memory DuckDB workspace holding the contact's domain (every contact of it, its company
    records and opportunities, their events and enrollments) and the lake's meta and settings. Every
    rule reads only the contact's own domain, so an evaluation there gives the contact's full answer."""
    con = db.connect(None)
    con.execute("DELETE FROM meta")
    ctl = lake.control().cursor()
    try:
        for t in ("meta", "settings_versions", "settings_changes"):  # already local: no Spark job
            cols = ", ".join(db.ident(c) for c in schema.names(t))
            rows = ctl.sql(f"SELECT {cols} FROM {db.ident(t)}").to_arrow_table()
            con.register("unify_small", rows)
            try:
                con.execute(f"INSERT INTO {db.ident(t)} ({cols}) SELECT {cols} FROM unify_small")
            finally:
                con.unregister("unify_small")
    finally:
        ctl.close()
    who, who_c, key = (("t.domain = ?", "c.domain = ?", domain) if domain is not None
                       else ("t.contact_id = ?", "c.contact_id = ?", contact_id))
    for t, where in _SLICE.items():
        if t == "company_records" or t == "opportunities":
            if domain is None:
                continue
            lake.pull(con, t, where, [domain])
        elif t == "events":
            lake.pull(con, t, where.format(who_c=who_c), [key, key])
        else:
            lake.pull(con, t, where.format(who=who, who_c=who_c), [key])
    return con


def explain_lake(lake: Lake, email: str, *, as_of: dt.datetime | None = None, ev: Evaluation | None = None) -> dict:
    """:func:`unify_dash.engine.explain` for a contact of the lake: the Spark evaluation names its group,
    the contact's domain is pulled into a local DuckDB and explained there; the two must agree on the
    contact's group (opted out, audiences, mask), or an error says so."""
    from unify_dash.engine.explain import explain

    ev = ev or evaluation_lake(lake, as_of=as_of)
    key = (email or "").strip().lower()
    found = ev.store.locate(key)
    if found is None:
        raise NotFound(f"unknown email {email!r}: no contact has this address")
    contact_id, g, domain = found
    local = domain_slice(lake, contact_id, domain)
    try:
        out = explain(local, key, as_of=as_of)
        mine = evaluator.evaluation(local, as_of=as_of)
        (lg,) = local.execute(f"SELECT group_id FROM {mine.table} WHERE email = ?", [key]).fetchone()
    finally:
        local.close()
    same = (bool(mine.opted[lg]) == bool(ev.opted[g]) and np.array_equal(mine.audience[lg], ev.audience[g])
            and np.array_equal(mine.masks[lg], ev.masks[g]))
    if not same:
        raise UnifyError(f"{key}: the Spark evaluation and its domain's local evaluation disagree "
                         f"(group {g}); please report this")
    out.update(ev.meta())
    return out
