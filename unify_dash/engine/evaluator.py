"""The evaluation engine: one module answers "would this contact be emailed?" for the send
scheduler and for every number on screen.

How it works (docs/engine.md):

1. :func:`evaluate` makes one set-based pass over the contacts in DuckDB. Every exclusion's
   criteria and filters are compiled by :mod:`unify_dash.model.vocabulary` (parameterised SQL) into a
   **match mask** per contact: bit *i* (exclusion *i* of ``settings.exclusions``) is set when the
   exclusion *applies* to the contact (person scope: the contact matches; company scope: any contact
   of its company domain matches, propagated with a ``GROUP BY domain bit_or``; in both cases the
   exclusion's filters must all hold for the contact). Masks are several signed ``BIGINT`` words (64
   exclusions a word; bit 63 is the sign bit), so that engines without an unsigned 64-bit type (Spark)
   run the same SQL; numpy reads them as ``uint64`` (:func:`mask_words`), the same bits. Next to the mask: the opted-out flag (:mod:`unify_dash.actions.optouts`) and one
   audience bit per Play.
2. Contacts with the same (opted out, audience bits, mask) form a **group**. The groups and their
   sizes live in numpy arrays of the :class:`Evaluation`; each contact's group id is stored in a
   table (``unify_dash_eval.ev_N``, ordered by email) of an in-memory database attached to the
   DuckDB instance.
3. :func:`impact` (what-if toggles) only recounts groups with numpy: no SQL, no contact scan.
   :func:`drilldown` selects the groups of a count with the *same* numpy code and pages their
   contacts, so a count and its list always agree. :func:`entry_decisions` and
   :func:`send_decisions` (the scheduler) decide on the same group masks.
4. :func:`explain` is one contact's Exclusion tab: point queries next to the evaluation.

Writes of the evaluation go through their own cursor into the attached in-memory database, never
into the workspace file and never into a caller's transaction. Evaluate *before* opening a write
transaction: a transaction cannot see evaluation tables created after it first read one.
"""

from __future__ import annotations

import collections
import datetime as dt
import gc
import itertools
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field

import duckdb
import numpy as np

from unify_dash.actions import optouts
from unify_dash.engine import leafbits
from unify_dash.errors import NotFound, UnifyError, ValidationError
from unify_dash.model import settings as settings_mod
from unify_dash.model import states
from unify_dash.model import vocabulary as vocab
from unify_dash.model.settings import Exclusion, Play, Settings
from unify_dash.store import db

WORD_BITS = leafbits.WORD_BITS
EVAL_DB = "unify_dash_eval"  # alias of the in-memory database that holds evaluation tables
CACHE_SIZE = 6  # evaluations kept by :func:`evaluation` (LRU)

BUCKETS = ("entered", "opted_out", "excluded_at_audience", "reached", "unrouted", "not_enrolled",
           "active_elsewhere", "enrolled", "matched", "blocking", "blocks_alone")
EXCLUSION_BUCKETS = ("matched", "blocking", "blocks_alone")
COUNT_KEYS = ("entered", "opted_out", "excluded_at_audience", "reached", "unrouted", "not_enrolled",
              "active_elsewhere", "enrolled")
EXCLUSION_KEYS = ("matched", "blocking", "blocks_alone")


# --- the evaluation ---------------------------------------------------------------------------------


@dataclass(eq=False)
class Evaluation:
    """One evaluation of every contact under one settings document at one time.

    Group arrays (``G`` groups, ``n`` exclusions, ``P`` plays): ``opted`` bool[G], ``audience``
    bool[G, P], ``masks`` uint64[G, W] (the SQL's signed words reinterpreted), ``matches`` bool[G, n] (the masks unpacked), ``counts``
    int64[G]. ``table`` holds ``(contact_id, email, group_id, opt_source)`` of every contact,
    ordered by email.
    """

    settings: Settings
    version: int | None
    as_of: dt.datetime
    generation: int
    instance: str
    table: str
    stats_table: str
    groups_table: str
    opted: np.ndarray
    audience: np.ndarray
    masks: np.ndarray
    matches: np.ndarray
    counts: np.ndarray
    seconds: float
    catalog: str = "memory"  # name of the workspace database in this DuckDB instance
    store: object | None = None  # per-contact group table outside DuckDB (Spark: pages by group id)
    ordered: bool = True  # ``table`` is stored in (email, contact id) order
    # float32[blocks, G]: contacts of group g at positions [b * PAGE_BLOCK, (b + 1) * PAGE_BLOCK) of ``table``
    block_counts: np.ndarray | None = None
    node_match: np.ndarray | None = None  # bool[G, C]: the conditions of the Plays' nodes (node_slots)
    busy: np.ndarray | None = None  # bool[G, S]: queued/active in sequence s (org.one_active_sequence on)
    # ordered evaluations: ``table`` carries the leaf and own-criteria words of the Exclusion tab, and this
    # table the first match per company domain of the company-wide exclusions (engine/leafbits.py)
    company_table: str | None = None
    _memo: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.node_match is None:
            self.node_match = np.zeros((len(self.counts), 0), dtype=bool)
        if self.busy is None:
            self.busy = np.zeros((len(self.counts), 0), dtype=bool)
        self.exclusion_ids = tuple(e.id for e in self.settings.exclusions)
        self.play_ids = tuple(p.id for p in self.settings.plays)
        self._excl_index = {e: i for i, e in enumerate(self.exclusion_ids)}
        self._play_index = {p: i for i, p in enumerate(self.play_ids)}
        self._weights = self.counts.astype(np.float64)

    @property
    def contacts(self) -> int:
        return int(self.counts.sum())

    @property
    def groups(self) -> int:
        return int(len(self.counts))

    def exclusion(self, exclusion_id: str) -> tuple[int, Exclusion]:
        try:
            i = self._excl_index[exclusion_id]
        except KeyError:
            raise NotFound(f"unknown exclusion {exclusion_id!r}") from None
        return i, self.settings.exclusions[i]

    def play(self, play_id: str) -> tuple[int, Play]:
        try:
            j = self._play_index[play_id]
        except KeyError:
            raise NotFound(f"unknown play {play_id!r}") from None
        return j, self.settings.plays[j]

    def group_exclusions(self, group_id: int) -> list[str]:
        """Ids of the exclusions that apply to the contacts of a group."""
        return [self.exclusion_ids[i] for i in np.flatnonzero(self.matches[group_id])]

    def meta(self) -> dict:
        return {"settings_version": self.version, "as_of": _iso(self.as_of), "generation": self.generation,
                "contacts": self.contacts, "groups": self.groups, "evaluate_s": round(self.seconds, 3)}


# --- database plumbing ------------------------------------------------------------------------------

_INIT_LOCK = threading.Lock()
_EVAL_LOCKS: dict[str, threading.RLock] = {}
_DROP_QUEUE: collections.deque = collections.deque()  # (instance, table) of garbage-collected evaluations
_TABLE_IDS = itertools.count(1)


_INSTANCE_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _instance(con: duckdb.DuckDBPyConnection) -> str:
    try:
        return _INSTANCE_OF[con]
    except (KeyError, TypeError):
        pass
    token = _instance_token(con)
    try:
        _INSTANCE_OF[con] = token
    except TypeError:  # pragma: no cover - a connection-like object without weak references
        pass
    return token


def _instance_token(con: duckdb.DuckDBPyConnection) -> str:
    """A token naming the DuckDB instance (the workspace database as opened in this process).

    It lives in the attached in-memory database, so a database closed and opened again is a new
    instance (its evaluation tables are gone with it)."""
    with _INIT_LOCK:
        attached = con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?",
                               [EVAL_DB]).fetchone()[0]
        if not attached:
            cur = con.cursor()
            try:
                cur.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {db.ident(EVAL_DB)}")
                cur.execute(f"CREATE TABLE IF NOT EXISTS {db.ident(EVAL_DB)}.instance (token VARCHAR)")
                cur.execute(f"INSERT INTO {db.ident(EVAL_DB)}.instance SELECT ? WHERE NOT EXISTS "
                            f"(SELECT 1 FROM {db.ident(EVAL_DB)}.instance)", [uuid.uuid4().hex])
            finally:
                cur.close()
        return con.execute(f"SELECT token FROM {db.ident(EVAL_DB)}.instance").fetchone()[0]


def _eval_lock(instance: str) -> threading.RLock:
    with _INIT_LOCK:
        lock = _EVAL_LOCKS.get(instance)
        if lock is None:
            lock = _EVAL_LOCKS[instance] = threading.RLock()
        return lock


def _forget(instance: str, tables: tuple[str, ...]) -> None:
    """weakref.finalize callback: never touches the database (it may run in any thread)."""
    for t in tables:
        _DROP_QUEUE.append((instance, t))


def _drop_forgotten(cur: duckdb.DuckDBPyConnection, instance: str) -> None:
    keep = []
    while _DROP_QUEUE:
        try:
            item = _DROP_QUEUE.popleft()
        except IndexError:  # pragma: no cover - another thread emptied it
            break
        if item[0] == instance:
            cur.execute(f"DROP TABLE IF EXISTS {item[1]}")
        else:
            keep.append(item)
    _DROP_QUEUE.extend(keep)


def _check_visible(con: duckdb.DuckDBPyConnection, ev: Evaluation) -> None:
    """A clear error instead of a catalog error (which would also abort the caller's transaction).

    Once visible on a connection, the tables stay visible (they are dropped only after ``ev`` is gone,
    and any later transaction starts after they were created), so the answer is remembered."""
    seen = ev._memo.get("visible_on")
    if seen is None:
        seen = ev._memo.setdefault("visible_on", weakref.WeakSet())
    try:
        if con in seen:
            return
    except TypeError:  # pragma: no cover - a connection-like object without weak references
        seen = None
    name = ev.table.split(".")[-1].strip('"')
    ok = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                     [EVAL_DB, name]).fetchone()[0]
    if ok and seen is not None:
        seen.add(con)
    if not ok:
        raise UnifyError("this evaluation's tables are not visible on this connection: it belongs to another "
                         "database, or the connection is inside a transaction that began before the evaluation "
                         "(evaluate before BEGIN)")


def _as_of(con: duckdb.DuckDBPyConnection, as_of: dt.datetime | None) -> dt.datetime:
    if as_of is None:
        return db.now(con)
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(dt.UTC).replace(tzinfo=None)
    return as_of


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


# --- SQL of one pass ---------------------------------------------------------------------------------


def mask_words(column) -> np.ndarray:
    """A column of signed ``BIGINT`` mask words (as the SQL returns them) -> uint64, the same bits."""
    return np.asarray(column, dtype=np.int64).view(np.uint64)


# the contact columns a drill-down page shows, carried in the evaluation table of pages (a page never
# joins the contacts table: at ten million contacts that join alone is a scan)
PAGE_COLUMNS = ("first_name", "last_name", "title", "domain")
PAGE_BLOCK = 16_384  # positions per block of the drill-down index (a block's counts stay exact in float32)


def node_slots(settings: Settings) -> dict[tuple[str, str], int]:
    """(play id, node id) -> column of :attr:`Evaluation.node_match`, for every node with a condition
    (Play branching), in play and node order. Their bits follow the plays' audience bits."""
    slots: dict[tuple[str, str], int] = {}
    for play in settings.plays:
        for nd in play.nodes:
            if nd.condition is not None:
                slots[(play.id, nd.id)] = len(slots)
    return slots


def busy_sequences(settings: Settings) -> tuple[str, ...]:
    """The sequences whose queued/active enrollments the evaluation reads (one bit each, after the node
    bits): every sequence when ``org.one_active_sequence`` is on, else none (the SQL is as before)."""
    return tuple(s.id for s in settings.sequences) if settings.one_active_sequence else ()


def company_words(settings: Settings) -> list[int]:
    """The mask words' company-wide bits: bit i of word i // 64 set when exclusion i is company-wide."""
    company = [0] * leafbits.n_words(len(settings.exclusions))
    for i, e in enumerate(settings.exclusions):
        if e.company_wide:
            company[i // WORD_BITS] |= 1 << (i % WORD_BITS)
    return company


def _relation_sql(settings: Settings, as_of: dt.datetime, stats_table: str,
                  where: str = "", where_params: list | None = None, *,
                  extra: tuple[str, ...] = (), leaves: bool = False, words: bool = False,
                  company_from: str | None = None) -> tuple[str, list, int, int]:
    """SELECT ``contact_id, email, opted, opt_source, a0.., m0..`` (and the contact columns ``extra``; with
    ``leaves``, the leaf words ``l0..`` and own-criteria words ``o0..`` of :mod:`.leafbits`)
    for every contact (or those ``where`` keeps: a restriction must keep whole company domains, or
    company-wide exclusions are not propagated, unless ``company_from`` gives the domains' company-wide
    bits: a SELECT of ``domain, k0..`` that may read the pass's ``base``, as the incremental path does from
    its per-domain counts). With ``words`` (the scheduler's evaluation, which the incremental path moves in
    time), also each contact's own company-wide criteria bits ``k0..`` and filter words ``t0..``.
    Returns (sql, params, mask words, audience words)."""
    exclusions = settings.exclusions
    n = len(exclusions)
    if n > settings_mod.MAX_EXCLUSIONS:
        raise ValidationError(f"{n} exclusions: at most {settings_mod.MAX_EXCLUSIONS} are supported; "
                              "no rule is dropped silently, so nothing was evaluated")
    slots, busy = node_slots(settings), busy_sequences(settings)
    W, Wa = leafbits.n_words(n), leafbits.n_words(len(settings.plays) + len(slots) + len(busy))
    params: list = []
    crit: list[tuple[int, str]] = []  # (bit, SQL) of each word set: bit i is exclusion i (node/busy bits follow plays)
    thru: list[tuple[int, str]] = []
    aud: list[tuple[int, str]] = []
    company = company_words(settings)
    for i, e in enumerate(exclusions):
        sql, p = vocab.compile_sql(e.criteria, as_of)
        crit.append((i, sql))
        params.extend(p)
    for i, e in enumerate(exclusions):
        if e.filters:
            parts = []
            for f in e.filters:
                sql, p = vocab.compile_sql(f, as_of)
                parts.append(sql)
                params.extend(p)
            # the filters let the contact through when they do not all hold
            thru.append((i, "NOT (" + " AND ".join(parts) + ")"))
    for j, play in enumerate(settings.plays):
        if play.audience is None:
            aud.append((j, "TRUE"))
        else:
            sql, p = vocab.compile_sql(play.audience, as_of)
            aud.append((j, sql))
            params.extend(p)
    bit = len(settings.plays)
    for play in settings.plays:  # Play branching: a bit per node condition (node_slots' order)
        for nd in play.nodes:
            if nd.condition is not None:
                sql, p = vocab.compile_sql(nd.condition, as_of)
                aud.append((bit, sql))
                params.extend(p)
                bit += 1
    busy_join = ""
    if busy:  # one active sequence at a time: a bit per sequence the contact is queued or active in
        aud += [(bit + k, f"coalesce(bz.s{k}, 0) = 1") for k in range(len(busy))]
        busy_join = ("LEFT JOIN (SELECT contact_id, "
                     + ", ".join(f"max(CASE WHEN sequence_id = ? THEN 1 ELSE 0 END) AS s{k}" for k in range(len(busy)))
                     + f" FROM enrollments WHERE state IN {states.ACTIVE_SQL} GROUP BY contact_id) bz "
                       "ON bz.contact_id = c.contact_id")
    cols = (leafbits.word_columns(crit, W, "c") + leafbits.word_columns(thru, W, "t")
            + leafbits.word_columns(aud, Wa, "a"))
    tab = ""
    if leaves:  # the Exclusion tab's leaf bits, computed by the same pass (engine/leafbits.py)
        lp = leafbits.plan(settings, as_of)
        for _sql, p in lp.sqls:
            params.extend(p)
        cols += leafbits.word_columns(((b, sql) for b, (sql, _p) in enumerate(lp.sqls)), lp.words, "l")
        tab = "".join(f"b.l{w}, " for w in range(lp.words)) + "".join(f"b.c{w} AS o{w}, " for w in range(W))
    if words:  # own company-wide criteria bits and filter words, for incremental.advance
        tab += "".join(f"b.c{w} & {leafbits.word(company[w])} AS k{w}, b.t{w} AS t{w}, " for w in range(W))
    params.extend(busy)
    params.extend(where_params or [])
    full = (1 << WORD_BITS) - 1
    has_company = any(company)
    dom = ""
    if has_company:
        any_company = " OR ".join(f"(c{w} & {leafbits.word(company[w])}) != 0" for w in range(W) if company[w])
        dom = (", dom AS (" + company_from + ")" if company_from else ", dom AS (SELECT domain, "
               + ", ".join(f"bit_or(c{w} & {leafbits.word(company[w])}) AS k{w}" for w in range(W))
               + f" FROM base WHERE domain IS NOT NULL AND ({any_company}) GROUP BY domain)")
    masks = []
    for w in range(W):
        if company[w]:
            own = f"(b.c{w} & {leafbits.word(full ^ company[w])}) | coalesce(dom.k{w}, b.c{w} & {leafbits.word(company[w])})"
        else:
            own = f"b.c{w}"
        masks.append(f"(({own}) & ~b.t{w}) AS m{w}")
    sql = f"""
WITH base AS (
    SELECT c.contact_id, c.email, c.domain, {"".join(f"c.{db.ident(x)} AS x_{x}, " for x in extra)}{", ".join(cols)}
    FROM {vocab.base_from(stats_table)}{(" " + busy_join) if busy_join else ""}
    {("WHERE " + where) if where else ""}
){dom}, opted AS ({optouts.opted_out_relation(settings)})
SELECT b.contact_id, b.email, (o.contact_id IS NOT NULL) AS opted, o.source AS opt_source,
       {"".join(f"b.x_{x} AS {db.ident(x)}, " for x in extra)}{tab}{", ".join(f"b.a{w}" for w in range(Wa))}, {", ".join(masks)}
FROM base b
{"LEFT JOIN dom ON dom.domain = b.domain" if has_company else ""}
LEFT JOIN opted o ON o.contact_id = b.contact_id
"""
    params.append(as_of)
    return sql, params, W, Wa


def _unpack(words: np.ndarray, n: int) -> np.ndarray:
    """uint64[G, W] -> bool[G, n]."""
    G = words.shape[0]
    if n == 0:
        return np.zeros((G, 0), dtype=bool)
    shifts = np.arange(WORD_BITS, dtype=np.uint64)
    bits = ((words[:, :, None] >> shifts[None, None, :]) & np.uint64(1)).astype(bool)
    return bits.reshape(G, -1)[:, :n]


def group_keys(W: int, Wa: int) -> list[str]:
    """The columns that make a group: opted out, the audience words, the mask words."""
    return ["opted"] + [f"a{w}" for w in range(Wa)] + [f"m{w}" for w in range(W)]


def groups_sql(raw: str, keys: list[str]) -> str:
    """SELECT ``group_id, <keys>, n``: the distinct keys of the relation ``raw`` (:func:`_relation_sql`)
    and their sizes, numbered in key order (the same numbering on every engine)."""
    key_list = ", ".join(keys)
    return (f"SELECT CAST(row_number() OVER (ORDER BY {key_list}) - 1 AS INTEGER) AS group_id, * "
            f"FROM (SELECT {key_list}, count(*) AS n FROM {raw} GROUP BY {key_list}) k")


def members_sql(raw: str, groups: str, keys: list[str], *, ordered: bool = True, extra: tuple[str, ...] = ()) -> str:
    """SELECT ``contact_id, email, group_id, opt_source`` of every contact: its group by key (ordered:
    with ``pos``, its place in (email, contact id) order; and the columns ``extra``)."""
    if not ordered:
        return (f"SELECT r.contact_id, r.email, g.group_id, r.opt_source{''.join(f', r.{x}' for x in extra)} "
                f"FROM {raw} r JOIN {groups} g USING ({', '.join(keys)})")
    cols = "".join(f", r.{db.ident(x)}" for x in extra)
    return (f"SELECT r.contact_id, r.email, g.group_id, r.opt_source, "
            f"CAST(row_number() OVER (ORDER BY r.email, r.contact_id) - 1 AS INTEGER) AS pos{cols} "
            f"FROM {raw} r JOIN {groups} g USING ({', '.join(keys)}) ORDER BY pos")


@dataclass
class PassResult:
    """What an executor returns for one evaluation pass: the groups (a few thousand rows, as numpy
    columns ``group_id, opted, a0.., m0.., n`` in group-id order) and where the per-contact tables
    live (names for DuckDB, lake paths for Spark)."""

    groups: dict
    W: int
    Wa: int
    table: str
    stats_table: str
    groups_table: str
    catalog: str
    store: object | None = None  # the member store of a non-DuckDB executor (drill-down pages)
    blocks: dict | None = None  # b, group_id, n: contacts per block of PAGE_BLOCK positions and group
    company_table: str | None = None  # first match per company domain (engine/leafbits.py)


class DuckDBExecutor:
    """Today's path: the pass runs in the workspace's DuckDB; the per-contact group table lives in the
    attached in-memory database :data:`EVAL_DB`."""

    name = "duckdb"

    def run(self, cur: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.datetime, *,
            ordered: bool = True) -> PassResult:
        num = next(_TABLE_IDS)
        name = f"ev_{num}"
        table = f"{db.ident(EVAL_DB)}.{db.ident(name)}"
        stats = f"{db.ident(EVAL_DB)}.{db.ident(name + '_stats')}"
        groups_table = f"{db.ident(EVAL_DB)}.{db.ident(name + '_groups')}"
        raw = f"{db.ident(EVAL_DB)}.{db.ident(name + '_raw')}"
        cur.execute(vocab.domain_stats_sql(stats))
        extra = PAGE_COLUMNS if ordered else ()
        # the scheduler's (unordered) evaluation keeps each contact's own company bits and filter words, which
        # its moves in time read (engine/incremental.py)
        sql, params, W, Wa = _relation_sql(settings, as_of, stats, extra=extra, leaves=ordered, words=not ordered)
        cur.execute(f"CREATE OR REPLACE TABLE {raw} AS {sql}", params)
        keys = group_keys(W, Wa)
        cur.execute(f"CREATE OR REPLACE TABLE {groups_table} AS {groups_sql(raw, keys)}")
        tab = (leafbits.leaf_columns(leafbits.plan(settings, as_of).words, W) if ordered else
               tuple(f"{p}{w}" for w in range(W) for p in ("k", "t")))
        cur.execute(f"CREATE OR REPLACE TABLE {table} AS "
                    f"{members_sql(raw, groups_table, keys, ordered=ordered, extra=extra + tab)}")
        cur.execute(f"DROP TABLE {raw}")
        company = f"{db.ident(EVAL_DB)}.{db.ident(name + '_company')}"
        company_sql = leafbits.company_sql(settings, table, company) if ordered else None
        if company_sql:
            cur.execute(company_sql)
        if ordered:  # the Exclusion tab reads one row of each by domain: an index, not a row group's scan
            cur.execute(f"CREATE INDEX {db.ident(name + '_stats_domain')} ON {stats}(domain)")
            if company_sql:
                cur.execute(f"CREATE INDEX {db.ident(name + '_company_domain')} ON {company}(domain)")
        g = cur.execute(f"SELECT * FROM {groups_table} ORDER BY group_id").fetchnumpy()
        catalog = cur.execute("SELECT current_database()").fetchone()[0]
        res = PassResult(g, W, Wa, table, stats, groups_table, catalog, company_table=company if company_sql else None)
        if ordered:  # contacts per (block of positions, group): drill-down reads any page's rows directly
            res.blocks = cur.execute(f"SELECT CAST(pos // {PAGE_BLOCK} AS INTEGER) AS b, group_id, count(*) AS n "
                                     f"FROM {table} GROUP BY ALL").fetchnumpy()
        return res


def split_bits(settings: Settings, aud_words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``a`` words (uint64[G, Wa]) -> audience bool[G, P], node conditions bool[G, C], busy bool[G, S]."""
    P, C, S = len(settings.plays), len(node_slots(settings)), len(busy_sequences(settings))
    bits = _unpack(aud_words, P + C + S)
    return bits[:, :P], bits[:, P:P + C], bits[:, P + C:]


def from_groups(settings: Settings, version: int | None, as_of: dt.datetime, generation: int, instance: str,
                res: PassResult, started: float) -> Evaluation:
    """The :class:`Evaluation` of a pass's groups, whichever engine ran it (masks: signed words -> uint64)."""
    g, W, Wa = res.groups, res.W, res.Wa
    G = len(g["group_id"])
    masks = np.stack([mask_words(g[f"m{w}"]) for w in range(W)], axis=1) if G else np.zeros((0, W), dtype=np.uint64)
    aud_words = np.stack([mask_words(g[f"a{w}"]) for w in range(Wa)], axis=1) if G else \
        np.zeros((0, Wa), dtype=np.uint64)
    audience, node_match, busy = split_bits(settings, aud_words)
    return Evaluation(
        settings=settings, version=version, as_of=as_of, generation=generation, instance=instance,
        table=res.table, stats_table=res.stats_table, groups_table=res.groups_table,
        opted=np.asarray(g["opted"], dtype=bool), audience=audience,
        masks=masks, matches=_unpack(masks, len(settings.exclusions)), counts=np.asarray(g["n"], dtype=np.int64),
        seconds=time.perf_counter() - started, catalog=res.catalog, store=res.store,
        node_match=node_match, busy=busy, company_table=res.company_table,
    )


def _block_matrix(blocks: dict, G: int) -> np.ndarray:
    b = np.asarray(blocks["b"], dtype=np.int64)
    out = np.zeros((int(b.max()) + 1 if len(b) else 0, G), dtype=np.float32)  # counts <= PAGE_BLOCK: exact
    out[b, np.asarray(blocks["group_id"], dtype=np.int64)] = np.asarray(blocks["n"], dtype=np.float32)
    return out


def evaluate(con: duckdb.DuckDBPyConnection, *, settings: Settings | None = None, version: int | None = None,
             as_of: dt.datetime | None = None, ordered: bool = True) -> Evaluation:
    """Evaluate every contact in one set-based pass. ``settings`` default: the version in effect at
    ``as_of`` (default: the workspace clock). Not cached: pages use :func:`evaluation`; the scheduler
    keeps its own (``ordered=False``: no sort by email, which only drill-down pages need) and moves it
    in time with :func:`unify_dash.engine.incremental.advance`.
    (The same pass on Spark: :func:`unify_dash.engine.spark.evaluate_lake`.)"""
    started = time.perf_counter()
    as_of = _as_of(con, as_of)
    if settings is None:
        version, settings = settings_mod.settings_at(con, as_of)
    settings = settings.in_force_at(as_of)  # expired "Email is not" overrides no longer apply
    generation = db.generation(con)
    instance = _instance(con)
    with _eval_lock(instance):
        cur = con.cursor()
        try:
            _drop_forgotten(cur, instance)
            res = DuckDBExecutor().run(cur, settings, as_of, ordered=ordered)
        finally:
            cur.close()
    ev = from_groups(settings, version, as_of, generation, instance, res, started)
    ev.ordered = ordered
    if res.blocks is not None:
        ev.block_counts = _block_matrix(res.blocks, ev.groups)
    weakref.finalize(ev, _forget, instance, (res.table, res.stats_table, res.groups_table)
                     + ((res.company_table,) if res.company_table else ()))
    return ev


_VERSIONS: collections.OrderedDict = collections.OrderedDict()  # (instance, generation, saved) -> versions


def _cache_key_values(con: duckdb.DuckDBPyConnection, as_of: dt.datetime | None) -> tuple[dt.datetime, int, int | None]:
    """(as of, data generation, settings version in effect then) with one query of ``meta``: the clock, the
    generation and the token every saved settings version writes (``settings_token``,
    :func:`settings_mod.save_version`). The versions' effective times are read once per token: the version
    in effect is then found without a query (:func:`settings_mod.version_at` answers the same)."""
    clock, generation, saved = db.meta_values(con, "clock", "data_generation", "settings_token")
    if as_of is None:  # the workspace clock (db.now), read with the generation
        as_of = dt.datetime.fromisoformat(clock) if clock else dt.datetime.now(dt.UTC).replace(tzinfo=None,
                                                                                              microsecond=0)
    as_of = _as_of(con, as_of)
    generation = int(generation) if generation else 0
    key = (_instance(con), generation, saved)
    with _CACHE_LOCK:
        versions = _VERSIONS.get(key)
    if versions is None:
        versions = con.execute("SELECT version, effective_at FROM settings_versions").fetchall()
        with _CACHE_LOCK:
            _VERSIONS[key] = versions
            while len(_VERSIONS) > 2 * CACHE_SIZE:
                _VERSIONS.popitem(last=False)
    return as_of, generation, max((v for v, at in versions if at <= as_of), default=None)


_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()


def evaluation(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None) -> Evaluation:
    """The evaluation under the settings in effect at ``as_of`` (default: the workspace clock), cached by
    (database instance, settings version, data generation, as-of minute). Thread-safe: pass each
    thread's own cursor."""
    as_of, generation, version = _cache_key_values(con, as_of)
    instance = _instance(con)
    # the version's number first: a hit never reads (nor hashes) the settings document
    key = (instance, version, generation, as_of.replace(second=0, microsecond=0))
    with _CACHE_LOCK:
        ev = _CACHE.get(key)
        if ev is not None:
            _CACHE.move_to_end(key)
            return ev
    with _eval_lock(instance):
        with _CACHE_LOCK:
            ev = _CACHE.get(key)
        if ev is None:
            version, settings = settings_mod.settings_at(con, as_of)
            key = (instance, version, *key[2:])
            ev = evaluate(con, settings=settings, version=version, as_of=as_of)
            evicted = []
            with _CACHE_LOCK:
                _CACHE[key] = ev
                while len(_CACHE) > CACHE_SIZE:
                    evicted.append(_CACHE.popitem(last=False)[1])
            if evicted:
                # An evaluation is a reference cycle (its memoized funnels point back at it): only the cyclic
                # collector frees it, and the app does not run one after every page run
                # (.streamlit/config.toml, runner.postScriptGC). Collect now, once per evaluation made.
                del evicted
                gc.collect()
    return ev


def clear_cache() -> None:
    """Forget every cached evaluation (their tables are dropped at the next evaluation)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _VERSIONS.clear()
