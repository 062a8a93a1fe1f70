"""The evaluation engine: one module answers "would this contact be emailed?" for the send
scheduler and for every number on screen.

How it works (docs/ARCHITECTURE.md, "Evaluation semantics"):

1. :func:`evaluate` makes one set-based pass over the contacts in DuckDB. Every exclusion's
   criteria and filters are compiled by :mod:`unify_dash.model.vocabulary` (parameterised SQL) into a
   **match mask** per contact: bit *i* (exclusion *i* of ``settings.exclusions``) is set when the
   exclusion *applies* to the contact (person scope: the contact matches; company scope: any contact
   of its company domain matches, propagated with a ``GROUP BY domain bit_or``; in both cases the
   exclusion's filters must all hold for the contact). Masks are several ``UBIGINT`` words (64
   exclusions a word). Next to the mask: the opted-out flag (:mod:`unify_dash.actions.optouts`) and one
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
import itertools
import json
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from unify_dash.actions import optouts
from unify_dash.errors import NotFound, UnifyError, ValidationError
from unify_dash.model import settings as settings_mod
from unify_dash.model import states
from unify_dash.model import vocabulary as vocab
from unify_dash.model.settings import Exclusion, Play, Settings
from unify_dash.store import db

WORD_BITS = 64
EVAL_DB = "unify_dash_eval"  # alias of the in-memory database that holds evaluation tables
CACHE_SIZE = 6  # evaluations kept by :func:`evaluation` (LRU)

BUCKETS = ("entered", "opted_out", "excluded_at_audience", "reached", "not_enrolled", "enrolled",
           "matched", "blocking", "blocks_alone")
EXCLUSION_BUCKETS = ("matched", "blocking", "blocks_alone")
COUNT_KEYS = ("entered", "opted_out", "excluded_at_audience", "reached", "not_enrolled", "enrolled")
EXCLUSION_KEYS = ("matched", "blocking", "blocks_alone")

OPPORTUNITY_FIELDS = ("open_opportunities", "open_opportunities_salesforce", "open_deals_hubspot",
                      "open_pipeline_amount", "won_opportunities", "last_opportunity_created_at")

# --- the evaluation ---------------------------------------------------------------------------------


@dataclass(eq=False)
class Evaluation:
    """One evaluation of every contact under one settings document at one time.

    Group arrays (``G`` groups, ``n`` exclusions, ``P`` plays): ``opted`` bool[G], ``audience``
    bool[G, P], ``masks`` uint64[G, W], ``matches`` bool[G, n] (the masks unpacked), ``counts``
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
    _memo: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
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


def _word_sql(bits: list[tuple[int, str]]) -> str:
    """A UBIGINT whose bit b is set when the boolean SQL of (b, sql) is true."""
    if not bits:
        return "0::UBIGINT"
    return "(" + " | ".join(f"(CASE WHEN {sql} THEN {1 << b}::UBIGINT ELSE 0::UBIGINT END)"
                            for b, sql in bits) + ")"


def _words(n: int) -> int:
    return max(1, -(-n // WORD_BITS))


def _relation_sql(settings: Settings, as_of: dt.datetime, stats_table: str,
                  where: str = "", where_params: list | None = None) -> tuple[str, list, int, int]:
    """SELECT ``contact_id, email, opted, opt_source, a0.., m0..`` for every contact (or those
    ``where`` keeps: a restriction must keep whole company domains, or company-wide exclusions
    are not propagated). Returns (sql, params, mask words, audience words)."""
    exclusions = settings.exclusions
    n = len(exclusions)
    if n > settings_mod.MAX_EXCLUSIONS:
        raise ValidationError(f"{n} exclusions: at most {settings_mod.MAX_EXCLUSIONS} are supported; "
                              "no rule is dropped silently, so nothing was evaluated")
    W, Wa = _words(n), _words(len(settings.plays))
    params: list = []
    crit: list[list[tuple[int, str]]] = [[] for _ in range(W)]
    thru: list[list[tuple[int, str]]] = [[] for _ in range(W)]
    company = [0] * W
    for i, e in enumerate(exclusions):
        sql, p = vocab.compile_sql(e.criteria, as_of)
        crit[i // WORD_BITS].append((i % WORD_BITS, sql))
        params.extend(p)
        if e.company_wide:
            company[i // WORD_BITS] |= 1 << (i % WORD_BITS)
    for i, e in enumerate(exclusions):
        if e.filters:
            parts = []
            for f in e.filters:
                sql, p = vocab.compile_sql(f, as_of)
                parts.append(sql)
                params.extend(p)
            # the filters let the contact through when they do not all hold
            thru[i // WORD_BITS].append((i % WORD_BITS, "NOT (" + " AND ".join(parts) + ")"))
    aud: list[list[tuple[int, str]]] = [[] for _ in range(Wa)]
    for j, play in enumerate(settings.plays):
        if play.audience is None:
            aud[j // WORD_BITS].append((j % WORD_BITS, "TRUE"))
        else:
            sql, p = vocab.compile_sql(play.audience, as_of)
            aud[j // WORD_BITS].append((j % WORD_BITS, sql))
            params.extend(p)
    cols = ([f"{_word_sql(crit[w])} AS c{w}" for w in range(W)]
            + [f"{_word_sql(thru[w])} AS t{w}" for w in range(W)]
            + [f"{_word_sql(aud[w])} AS a{w}" for w in range(Wa)])
    params.extend(where_params or [])
    full = (1 << WORD_BITS) - 1
    has_company = any(company)
    dom = ""
    if has_company:
        any_company = " OR ".join(f"(c{w} & {company[w]}::UBIGINT) != 0" for w in range(W) if company[w])
        dom = (", dom AS (SELECT domain, "
               + ", ".join(f"bit_or(c{w} & {company[w]}::UBIGINT) AS k{w}" for w in range(W))
               + f" FROM base WHERE domain IS NOT NULL AND ({any_company}) GROUP BY domain)")
    masks = []
    for w in range(W):
        if company[w]:
            own = f"(b.c{w} & {full ^ company[w]}::UBIGINT) | coalesce(dom.k{w}, b.c{w} & {company[w]}::UBIGINT)"
        else:
            own = f"b.c{w}"
        masks.append(f"(({own}) & ~b.t{w}) AS m{w}")
    sql = f"""
WITH base AS (
    SELECT c.contact_id, c.email, c.domain, {", ".join(cols)}
    FROM {vocab.base_from(stats_table)}
    {("WHERE " + where) if where else ""}
){dom}, opted AS ({optouts.opted_out_relation(settings)})
SELECT b.contact_id, b.email, (o.contact_id IS NOT NULL) AS opted, o.source AS opt_source,
       {", ".join(f"b.a{w}" for w in range(Wa))}, {", ".join(masks)}
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


def evaluate(con: duckdb.DuckDBPyConnection, *, settings: Settings | None = None, version: int | None = None,
             as_of: dt.datetime | None = None) -> Evaluation:
    """Evaluate every contact in one set-based pass. ``settings`` default: the version in effect at
    ``as_of`` (default: the workspace clock). Not cached: pages and the scheduler use :func:`evaluation`."""
    started = time.perf_counter()
    as_of = _as_of(con, as_of)
    if settings is None:
        version, settings = settings_mod.settings_at(con, as_of)
    generation = db.generation(con)
    instance = _instance(con)
    with _eval_lock(instance):
        cur = con.cursor()
        try:
            _drop_forgotten(cur, instance)
            num = next(_TABLE_IDS)
            name = f"ev_{num}"
            table = f"{db.ident(EVAL_DB)}.{db.ident(name)}"
            stats = f"{db.ident(EVAL_DB)}.{db.ident(name + '_stats')}"
            groups_table = f"{db.ident(EVAL_DB)}.{db.ident(name + '_groups')}"
            raw = f"{db.ident(EVAL_DB)}.{db.ident(name + '_raw')}"
            cur.execute(vocab.domain_stats_sql(stats))
            sql, params, W, Wa = _relation_sql(settings, as_of, stats)
            cur.execute(f"CREATE OR REPLACE TABLE {raw} AS {sql}", params)
            keys = ["opted"] + [f"a{w}" for w in range(Wa)] + [f"m{w}" for w in range(W)]
            key_list = ", ".join(keys)
            cur.execute(f"""CREATE OR REPLACE TABLE {groups_table} AS
                SELECT (row_number() OVER (ORDER BY {key_list}) - 1)::INTEGER AS group_id, *
                FROM (SELECT {key_list}, count(*) AS n FROM {raw} GROUP BY {key_list})""")
            cur.execute(f"""CREATE OR REPLACE TABLE {table} AS
                SELECT r.contact_id, r.email, g.group_id, r.opt_source
                FROM {raw} r JOIN {groups_table} g USING ({key_list})
                ORDER BY r.email, r.contact_id""")
            cur.execute(f"DROP TABLE {raw}")
            g = cur.execute(f"SELECT * FROM {groups_table} ORDER BY group_id").fetchnumpy()
            catalog = cur.execute("SELECT current_database()").fetchone()[0]
        finally:
            cur.close()
    n = len(settings.exclusions)
    G = len(g["group_id"])
    masks = np.stack([np.asarray(g[f"m{w}"], dtype=np.uint64) for w in range(W)], axis=1) if G else \
        np.zeros((0, W), dtype=np.uint64)
    aud_words = np.stack([np.asarray(g[f"a{w}"], dtype=np.uint64) for w in range(Wa)], axis=1) if G else \
        np.zeros((0, Wa), dtype=np.uint64)
    ev = Evaluation(
        settings=settings, version=version, as_of=as_of, generation=generation, instance=instance,
        table=table, stats_table=stats, groups_table=groups_table,
        opted=np.asarray(g["opted"], dtype=bool), audience=_unpack(aud_words, len(settings.plays)),
        masks=masks, matches=_unpack(masks, n), counts=np.asarray(g["n"], dtype=np.int64),
        seconds=time.perf_counter() - started, catalog=catalog,
    )
    weakref.finalize(ev, _forget, instance, (table, stats, groups_table))
    return ev


_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()


def evaluation(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None) -> Evaluation:
    """The evaluation under the settings in effect at ``as_of`` (default: the workspace clock), cached by
    (database instance, settings version, data generation, as-of minute). Thread-safe: pass each
    thread's own cursor."""
    clock, generation = con.execute(
        "SELECT max(value) FILTER (WHERE key = 'clock'), max(value) FILTER (WHERE key = 'data_generation') "
        "FROM meta").fetchone()
    if as_of is None:  # the workspace clock (db.now), read with the generation in one query
        as_of = dt.datetime.fromisoformat(clock) if clock else db.now(con)
    as_of = _as_of(con, as_of)
    version, settings = settings_mod.settings_at(con, as_of)
    instance = _instance(con)
    key = (instance, version, int(generation) if generation else 0, as_of.replace(second=0, microsecond=0))
    with _CACHE_LOCK:
        ev = _CACHE.get(key)
        if ev is not None:
            _CACHE.move_to_end(key)
            return ev
    with _eval_lock(instance):
        with _CACHE_LOCK:
            ev = _CACHE.get(key)
        if ev is None:
            ev = evaluate(con, settings=settings, version=version, as_of=as_of)
            with _CACHE_LOCK:
                _CACHE[key] = ev
                while len(_CACHE) > CACHE_SIZE:
                    _CACHE.popitem(last=False)
    return ev


def clear_cache() -> None:
    """Forget every cached evaluation (their tables are dropped at the next evaluation)."""
    with _CACHE_LOCK:
        _CACHE.clear()


# --- levels and the funnel (numpy over groups) ---------------------------------------------------------


@dataclass
class _Levels:
    """Toggle state of every exclusion at every level, as bool[n] vectors."""

    org: np.ndarray
    rulesets: dict[str, np.ndarray]
    audiences: dict[str, np.ndarray]
    remove: np.ndarray


def _saved_levels(ev: Evaluation) -> _Levels:
    lv = ev._memo.get("levels")
    if lv is None:
        s = ev.settings
        ids = ev.exclusion_ids
        lv = _Levels(
            org=np.array([e.exclude_from_sequences for e in s.exclusions], dtype=bool),
            rulesets={r.id: np.array([r.is_on(x) for x in ids], dtype=bool) for r in s.rulesets},
            audiences={p.id: np.array([p.audience_on(x) for x in ids], dtype=bool) for p in s.plays},
            remove=np.array([e.remove_from_active_sequences for e in s.exclusions], dtype=bool),
        )
        ev._memo["levels"] = lv
    return lv


def _normalise_toggles(ev: Evaluation, toggles: dict | None) -> tuple:
    """Validated toggles as a sorted tuple of ((exclusion_id, level, target), on)."""
    if not toggles:
        return ()
    out = {}
    for key, on in toggles.items():
        if not isinstance(key, tuple) or len(key) != 3:
            raise ValidationError(f"a toggle key is (exclusion_id, level, target), got {key!r}")
        excl_id, level, target = key
        ev.exclusion(excl_id)
        if level == "organisation":
            target = None
        elif level == "ruleset":
            ev.settings.ruleset(target)
        elif level == "audience":
            ev.play(target)
        else:
            raise ValidationError(f"unknown level {level!r}; expected one of {', '.join(settings_mod.LEVELS)}")
        out[(excl_id, level, target)] = bool(on)
    return tuple(sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")))


def _levels(ev: Evaluation, toggles: tuple) -> _Levels:
    saved = _saved_levels(ev)
    if not toggles:
        return saved
    lv = _Levels(org=saved.org.copy(), rulesets={k: v.copy() for k, v in saved.rulesets.items()},
                 audiences={k: v.copy() for k, v in saved.audiences.items()}, remove=saved.remove)
    for (excl_id, level, target), on in toggles:
        i = ev._excl_index[excl_id]
        if level == "organisation":
            lv.org[i] = on
        elif level == "ruleset":
            lv.rulesets[target][i] = on
        else:
            lv.audiences[target][i] = on
    return lv


@dataclass
class _Node:
    id: str
    name: str
    sequence_id: str
    sequence_name: str
    ruleset_id: str
    ruleset_name: str


def _play_nodes(ev: Evaluation, play: Play) -> list[_Node]:
    out = []
    for n in play.nodes:
        seq = ev.settings.sequence(n.sequence)
        rs = ev.settings.ruleset(seq.ruleset)
        out.append(_Node(n.id, n.name or seq.name, seq.id, seq.name, rs.id, rs.name))
    return out


def _pack(flags: np.ndarray, words: int) -> np.ndarray:
    """bool[n] -> uint64[words] (bit i of word i // 64)."""
    out = np.zeros(words, dtype=np.uint64)
    for i in np.flatnonzero(flags):
        out[i // WORD_BITS] |= np.uint64(1) << np.uint64(i % WORD_BITS)
    return out


def _any_bits(masks: np.ndarray, word: np.ndarray) -> np.ndarray:
    """bool[G]: the mask shares a bit with ``word``."""
    return ((masks & word[None, :]) != 0).any(axis=1)


@dataclass
class _Funnel:
    """One Play under some levels: per group (bool[G]) states, computed on packed mask words."""

    ev: Evaluation
    play: Play
    nodes: list[_Node]
    aud_on: np.ndarray  # bool[n]
    node_on: np.ndarray  # bool[K, n]: on at the organisation level and in the node's ruleset
    aud_word: np.ndarray  # uint64[W]
    node_words: np.ndarray  # uint64[K, W]
    entered: np.ndarray
    live: np.ndarray  # entered and not opted out
    opted_out: np.ndarray
    excluded_at_audience: np.ndarray
    reached: np.ndarray  # passed the audience: reaches every sequence node of the Play
    node_blocked: np.ndarray  # bool[G, K]
    _sole: dict = field(default_factory=dict)

    def not_enrolled(self, k: int | None) -> np.ndarray:
        if not self.nodes:
            return np.zeros_like(self.reached)
        if k is None:  # at one node or more
            return self.reached & self.node_blocked.any(axis=1)
        return self.reached & self.node_blocked[:, k]

    def enrolled(self, k: int | None) -> np.ndarray:
        if not self.nodes:
            return np.zeros_like(self.reached)
        if k is None:  # at one node or more
            return self.reached & ~self.node_blocked.all(axis=1)
        return self.reached & ~self.node_blocked[:, k]

    def sole(self, k: int | None) -> np.ndarray:
        """Live groups with exactly one blocker among the audience and node k (k None: the audience)."""
        if k not in self._sole:
            word = self.aud_word if k is None else (self.aud_word | self.node_words[k])
            bits = np.bitwise_count(self.ev.masks & word[None, :]).sum(axis=1)
            self._sole[k] = self.live & (bits == 1)
        return self._sole[k]

    def released_on(self, k: int | None) -> np.ndarray:
        return self.aud_on if k is None else (self.aud_on | self.node_on[k])


def _funnel(ev: Evaluation, play_id: str, levels: _Levels) -> _Funnel:
    j, play = ev.play(play_id)
    nodes = _play_nodes(ev, play)
    n = len(ev.exclusion_ids)
    W = ev.masks.shape[1]
    aud_on = levels.audiences[play.id]
    node_on = (np.stack([levels.org & levels.rulesets[nd.ruleset_id] for nd in nodes])
               if nodes else np.zeros((0, n), dtype=bool))
    aud_word = _pack(aud_on, W)
    node_words = np.stack([_pack(x, W) for x in node_on]) if nodes else np.zeros((0, W), dtype=np.uint64)
    entered = ev.audience[:, j] if ev.audience.shape[1] else np.zeros(ev.groups, dtype=bool)
    live = entered & ~ev.opted
    excluded = live & _any_bits(ev.masks, aud_word)
    reached = live & ~excluded
    node_blocked = (np.stack([_any_bits(ev.masks, w) for w in node_words], axis=1) if nodes
                    else np.zeros((ev.groups, 0), dtype=bool))
    return _Funnel(ev, play, nodes, aud_on, node_on, aud_word, node_words, entered, live, entered & ev.opted,
                   excluded, reached, node_blocked)


def _terms(f: _Funnel, bucket: str, k: int | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """A per-exclusion bucket as terms (name, groups bool[G], exclusions bool[n]): exclusion i counts a
    group when i applies to it and, for some term, the group is in the term's groups and i is on in the
    term's exclusions. The single definition behind impact's counts and drill-down's lists."""
    n = len(f.aud_on)
    ks = range(len(f.nodes)) if k is None else [k]
    if bucket == "matched":
        return [("live", f.live, np.ones(n, dtype=bool))]
    if bucket == "blocking_audience" or bucket == "excluded_at_audience":
        return [("live", f.live, f.aud_on)]
    if bucket == "blocking":
        if k is not None:
            return [("reached", f.reached, f.node_on[k])]
        return [("live", f.live, f.aud_on),
                ("reached", f.reached, f.node_on.any(axis=0) if f.nodes else np.zeros(n, dtype=bool))]
    if bucket == "not_enrolled":
        return [(f"not_enrolled:{kk}", f.not_enrolled(kk), f.node_on[kk]) for kk in ks]
    if bucket == "blocks_alone":
        # released if i is turned off everywhere: enrolled at >= 1 node where it is not now, i.e. i is
        # the only blocker at the audience and at that node. A Play without nodes: enters the Play.
        if not f.nodes:
            return [("sole:audience", f.sole(None), f.released_on(None))]
        return [(f"sole:{kk}", f.sole(kk), f.released_on(kk)) for kk in ks]
    raise ValidationError(f"bucket {bucket!r} has no per-exclusion count")


def _term_select(ev: Evaluation, terms: list, i: int) -> np.ndarray:
    groups = np.zeros(ev.groups, dtype=bool)
    for _name, gv, flags in terms:
        if flags[i]:
            groups |= gv
    return ev.matches[:, i] & groups


def _term_counts(ev: Evaluation, terms: list, memo: dict) -> np.ndarray:
    """int64[n]: for every exclusion i, the contacts :func:`_term_select` (terms, i) selects."""
    n = len(ev.exclusion_ids)
    out = np.zeros(n, dtype=np.int64)
    if not terms or not n or not ev.groups:
        return out
    flags = np.stack([t[2] for t in terms])  # T x n
    patterns, inverse = np.unique(flags, axis=1, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    for p in range(patterns.shape[1]):
        chosen = [t for t, on in zip(terms, patterns[:, p], strict=True) if on]
        if not chosen:
            continue
        key = frozenset(t[0] for t in chosen)
        sums = memo.get(key)
        if sums is None:
            groups = np.zeros(ev.groups, dtype=bool)
            for t in chosen:
                groups |= t[1]
            sums = memo[key] = np.rint((ev._weights * groups) @ _matches_f(ev)).astype(np.int64)
        cols = inverse == p
        out[cols] = sums[cols]
    return out


def _matches_f(ev: Evaluation) -> np.ndarray:
    mf = ev._memo.get("matches_f")
    if mf is None:
        mf = ev._memo["matches_f"] = ev.matches.astype(np.float64)
    return mf


def _select(ev: Evaluation, f: _Funnel, bucket: str, k: int | None, i: int | None) -> np.ndarray:
    """bool[G]: the groups of a bucket. The single definition used by counts and by lists."""
    if bucket == "entered":
        return f.entered
    if bucket == "opted_out":
        return f.opted_out
    if bucket == "reached":
        return f.reached
    if bucket == "enrolled":
        return f.enrolled(k)
    if bucket in ("excluded_at_audience", "not_enrolled"):
        if i is None:
            return f.excluded_at_audience if bucket == "excluded_at_audience" else f.not_enrolled(k)
        return _term_select(ev, _terms(f, bucket, k), i)
    if bucket in EXCLUSION_BUCKETS:
        if i is None:
            raise ValidationError(f"bucket {bucket!r} needs an exclusion_id")
        return _term_select(ev, _terms(f, bucket, k), i)
    raise ValidationError(f"unknown bucket {bucket!r}; expected one of {', '.join(BUCKETS)}")


def _node_index(f: _Funnel, node_id: str | None) -> int | None:
    if node_id is None:
        return None
    for k, nd in enumerate(f.nodes):
        if nd.id == node_id:
            return k
    raise NotFound(f"unknown node {node_id!r} in play {f.play.id!r}")


# --- impact --------------------------------------------------------------------------------------------


def _count(ev: Evaluation, sel: np.ndarray) -> int:
    return int(ev.counts[sel].sum())


def _numbers(ev: Evaluation, f: _Funnel) -> dict:
    memo: dict = {}
    K = len(f.nodes)
    return {
        "counts": {b: _count(ev, _select(ev, f, b, None, None)) for b in COUNT_KEYS},
        "nodes": [{b: _count(ev, _select(ev, f, b, k, None)) for b in ("reached", "not_enrolled", "enrolled")}
                  for k in range(K)],
        "matched": _term_counts(ev, _terms(f, "matched", None), memo),
        "blocking": _term_counts(ev, _terms(f, "blocking", None), memo),
        "blocks_alone": _term_counts(ev, _terms(f, "blocks_alone", None), memo),
        "blocking_audience": _term_counts(ev, _terms(f, "blocking_audience", None), memo),
        "blocking_nodes": [_term_counts(ev, _terms(f, "blocking", k), memo) for k in range(K)],
        "released_nodes": [_term_counts(ev, _terms(f, "blocks_alone", k), memo) for k in range(K)],
    }


def overlap_matrix(ev: Evaluation, play_id: str) -> np.ndarray:
    """int64[n, n]: contacts of the Play's audience (not opted out) matched by both exclusions."""
    key = ("overlap", play_id)
    out = ev._memo.get(key)
    if out is None:
        f = _funnel(ev, play_id, _saved_levels(ev))
        M = _matches_f(ev)
        out = np.rint((M * (ev._weights * f.live)[:, None]).T @ M).astype(np.int64)
        ev._memo[key] = out
    return out


def overlap(ev: Evaluation, play_id: str, a: str, b: str) -> int:
    """Contacts of the Play's audience (not opted out) that both exclusions match."""
    i, _ = ev.exclusion(a)
    k, _ = ev.exclusion(b)
    return int(overlap_matrix(ev, play_id)[i, k])


def impact(ev: Evaluation, play_id: str, toggles: dict | None = None) -> dict:
    """What-if counts of a Play under ``toggles`` ({(exclusion_id, level, target): on}), next to the
    saved settings. Pure numpy over the groups. JSON-able."""
    j, play = ev.play(play_id)
    norm = _normalise_toggles(ev, toggles)
    saved_key = ("saved_numbers", play_id)
    saved_levels = _saved_levels(ev)
    saved = ev._memo.get(saved_key)
    if saved is None:
        saved = ev._memo[saved_key] = _numbers(ev, _funnel(ev, play_id, saved_levels))
    levels = _levels(ev, norm)
    now = _numbers(ev, _funnel(ev, play_id, levels)) if norm else saved
    nodes = _play_nodes(ev, play)

    def diff(a: dict, b: dict) -> dict:
        return {k: a[k] - b[k] for k in a}

    out_nodes = []
    for k, nd in enumerate(nodes):
        out_nodes.append({"id": nd.id, "name": nd.name, "sequence_id": nd.sequence_id,
                          "sequence_name": nd.sequence_name, "ruleset_id": nd.ruleset_id,
                          "ruleset_name": nd.ruleset_name, **now["nodes"][k], "saved": saved["nodes"][k],
                          "change": diff(now["nodes"][k], saved["nodes"][k])})
    rulesets = sorted({nd.ruleset_id for nd in nodes})
    node_saved = [saved_levels.org & saved_levels.rulesets[nd.ruleset_id] for nd in nodes]
    node_now = [levels.org & levels.rulesets[nd.ruleset_id] for nd in nodes]
    lists = {key: now[key].tolist() for key in EXCLUSION_KEYS}
    old_lists = {key: saved[key].tolist() for key in EXCLUSION_KEYS}
    ov = overlap_matrix(ev, play_id)
    exclusions = []
    for i, e in enumerate(ev.settings.exclusions):
        cur = {key: lists[key][i] for key in EXCLUSION_KEYS}
        old = {key: old_lists[key][i] for key in EXCLUSION_KEYS}
        exclusions.append({
            "id": e.id, "name": e.name, "scope": e.scope,
            "remove_from_active_sequences": e.remove_from_active_sequences,
            **cur, "saved": old, "change": {key: cur[key] - old[key] for key in EXCLUSION_KEYS},
            "blocking_at": {"audience": int(now["blocking_audience"][i]),
                            **{nd.id: int(now["blocking_nodes"][k][i]) for k, nd in enumerate(nodes)}},
            "released_at": {nd.id: int(now["released_nodes"][k][i]) for k, nd in enumerate(nodes)},
            "state": {
                "audience": {"saved": bool(saved_levels.audiences[play.id][i]),
                             "what_if": bool(levels.audiences[play.id][i])},
                "organisation": {"saved": bool(saved_levels.org[i]), "what_if": bool(levels.org[i])},
                "rulesets": {r: {"saved": bool(saved_levels.rulesets[r][i]), "what_if": bool(levels.rulesets[r][i])}
                             for r in rulesets},
                "nodes": {nd.id: {"saved": bool(node_saved[k][i]), "what_if": bool(node_now[k][i])}
                          for k, nd in enumerate(nodes)},
            },
        })
    return {
        "play": {"id": play.id, "name": play.name},
        **ev.meta(),
        "toggles": [{"exclusion_id": x, "level": lvl, "target": t, "on": on} for (x, lvl, t), on in norm],
        **now["counts"],
        "saved": saved["counts"],
        "change": diff(now["counts"], saved["counts"]),
        "nodes": out_nodes,
        "exclusions": exclusions,
        "overlap": {"exclusions": list(ev.exclusion_ids), "matrix": ov.tolist()},
    }


# --- reasons ---------------------------------------------------------------------------------------------


def _state_word(on: bool) -> str:
    return "on" if on else "off"


def _blockers(ev: Evaluation, f: _Funnel, levels: _Levels, g: int, k: int | None = None) -> list[dict]:
    """Structured reasons for one group: opt-out, audience exclusions, node exclusions (node k or all)."""
    out = []
    row = ev.matches[g]
    if len(row):
        for i in np.flatnonzero(row & f.aud_on):
            e = ev.settings.exclusions[i]
            out.append({"exclusion_id": e.id, "name": e.name, "level": "audience", "node_id": None,
                        "text": f"{e.name} (audience of {f.play.name})"})
    if not f.excluded_at_audience[g]:
        for kk, nd in enumerate(f.nodes):
            if k is not None and kk != k:
                continue
            for i in np.flatnonzero(row & f.node_on[kk]):
                e = ev.settings.exclusions[i]
                out.append({"exclusion_id": e.id, "name": e.name, "level": "sequence", "node_id": nd.id,
                            "sequence_id": nd.sequence_id, "ruleset_id": nd.ruleset_id,
                            "text": f"{e.name} (sequence {nd.sequence_name}: org on + ruleset {nd.ruleset_name} on)"})
    return out


def _opt_out_text(source: str | None) -> str:
    return f"Opted out ({source or 'unknown source'})"


# --- drill-down ------------------------------------------------------------------------------------------


def _bucket(ev: Evaluation, play_id: str, bucket: str, node_id: str | None, exclusion_id: str | None,
            toggles: dict | None) -> tuple[_Funnel, _Levels, int | None, np.ndarray]:
    norm = _normalise_toggles(ev, toggles)
    levels = _levels(ev, norm)
    f = _funnel(ev, play_id, levels)
    k = _node_index(f, node_id)
    i = ev.exclusion(exclusion_id)[0] if exclusion_id is not None else None
    if bucket in ("not_enrolled", "enrolled") and k is None and len(f.nodes) == 1:
        k = 0
    return f, levels, k, _select(ev, f, bucket, k, i)


def bucket_groups(ev: Evaluation, play_id: str, bucket: str, *, node_id: str | None = None,
                  exclusion_id: str | None = None, toggles: dict | None = None) -> np.ndarray:
    """The group ids behind a count (the same selection :func:`impact` counts), e.g. to export a whole
    list: ``SELECT ... FROM {ev.table} WHERE group_id IN (SELECT unnest(?))``."""
    return np.flatnonzero(_bucket(ev, play_id, bucket, node_id, exclusion_id, toggles)[3]).astype(np.int32)


def drilldown(con: duckdb.DuckDBPyConnection, ev: Evaluation, play_id: str, bucket: str, *,
              node_id: str | None = None, exclusion_id: str | None = None, toggles: dict | None = None,
              offset: int = 0, limit: int = 50) -> dict:
    """The contacts behind a count, paged in a stable order (email, contact id), each with its reasons.

    ``total`` is the count :func:`impact` shows for the same bucket and toggles."""
    if offset < 0 or limit < 0:
        raise ValidationError("offset and limit must be >= 0")
    f, levels, k, sel = _bucket(ev, play_id, bucket, node_id, exclusion_id, toggles)
    gids = np.flatnonzero(sel).astype(np.int32)
    total = _count(ev, sel)
    rows: list[dict] = []
    if total and limit:
        _check_visible(con, ev)
        df = con.execute(
            f"""SELECT p.contact_id, p.email, p.group_id, p.opt_source, c.first_name, c.last_name, c.title,
                       c.domain
                FROM (SELECT contact_id, email, group_id, opt_source FROM {ev.table}
                      WHERE group_id IN (SELECT unnest(?::INTEGER[]))
                      ORDER BY email, contact_id LIMIT ? OFFSET ?) p
                LEFT JOIN contacts c ON c.contact_id = p.contact_id
                ORDER BY p.email, p.contact_id""",
            [gids.tolist(), int(limit), int(offset)]).fetchall()
        memo: dict[int, list[dict]] = {}
        for contact_id, email, g, source, first, last, title, domain in df:
            if g not in memo:
                memo[g] = _blockers(ev, f, levels, g, k)
            blocking = memo[g]
            reasons = ([_opt_out_text(source)] if ev.opted[g] else []) + [b["text"] for b in blocking]
            rows.append({"contact_id": contact_id, "email": email, "first_name": first, "last_name": last,
                         "title": title, "domain": domain, "group_id": int(g), "opted_out": bool(ev.opted[g]),
                         "opt_out_source": source if ev.opted[g] else None,
                         "matched": ev.group_exclusions(g), "blocking": blocking, "reasons": reasons})
    return {"play_id": play_id, "bucket": bucket, "node_id": node_id if k is None else f.nodes[k].id,
            "exclusion_id": exclusion_id, "total": total, "offset": offset, "limit": limit, "rows": rows}


# --- scheduler decisions -----------------------------------------------------------------------------------


def entry_decisions(con: duckdb.DuckDBPyConnection, ev: Evaluation, play_id: str,
                    contact_ids: list[str] | None = None) -> pd.DataFrame:
    """Play entry: one row per contact of the Play's audience (``contact_ids`` restricts) and sequence node.

    Columns: contact_id, play_id, node_id, sequence_id, outcome (``opted_out`` | ``excluded_at_audience``
    | ``not_enrolled`` | ``enrolled``; ``entered`` for a Play without nodes), blocking (list of
    {exclusion_id, name, level, node_id, ...}), reason (text)."""
    levels = _saved_levels(ev)
    f = _funnel(ev, play_id, levels)
    columns = ["contact_id", "play_id", "node_id", "sequence_id", "outcome", "blocking", "reason"]
    gids = np.flatnonzero(f.entered).astype(np.int32)
    if not len(gids) or (contact_ids is not None and not len(contact_ids)):
        return pd.DataFrame(columns=columns)
    _check_visible(con, ev)
    sql = f"SELECT contact_id, group_id, opt_source FROM {ev.table} WHERE group_id IN (SELECT unnest(?::INTEGER[]))"
    params: list = [gids.tolist()]
    if contact_ids is not None:
        sql += " AND contact_id IN (SELECT unnest(?::VARCHAR[]))"
        params.append([str(c) for c in contact_ids])
    base = con.execute(sql + " ORDER BY email, contact_id", params).df()
    if base.empty:
        return pd.DataFrame(columns=columns)
    uniq, inverse = np.unique(base["group_id"].to_numpy(), return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    slots = f.nodes or [None]
    # per group and node slot: outcome, blocking list, reason; then spread over the contacts with numpy
    outcome = np.empty((len(uniq), len(slots)), dtype=object)
    blocking = np.empty((len(uniq), len(slots)), dtype=object)
    reason = np.empty((len(uniq), len(slots)), dtype=object)
    for u, g in enumerate(uniq.tolist()):
        for k, _nd in enumerate(slots):
            if ev.opted[g]:
                outcome[u, k], blocking[u, k], reason[u, k] = "opted_out", [], None
            elif f.excluded_at_audience[g]:
                bl = _blockers(ev, f, levels, g)
                outcome[u, k], blocking[u, k], reason[u, k] = "excluded_at_audience", bl, "; ".join(
                    b["text"] for b in bl)
            elif not f.nodes:
                outcome[u, k], blocking[u, k], reason[u, k] = "entered", [], None
            else:
                bl = _blockers(ev, f, levels, g, k)
                outcome[u, k], blocking[u, k] = ("not_enrolled" if bl else "enrolled"), bl
                reason[u, k] = "; ".join(b["text"] for b in bl) or None
    opted_text = np.where(base["opt_source"].isna().to_numpy(), "Opted out (unknown source)",
                          "Opted out (" + base["opt_source"].fillna("").astype(str).to_numpy(dtype=object) + ")")
    frames = []
    n = len(base)
    for k, nd in enumerate(slots):
        out_k = outcome[inverse, k]
        reasons = reason[inverse, k]
        reasons = np.where(out_k == "opted_out", opted_text, reasons)
        frames.append(pd.DataFrame({
            "contact_id": pd.Series(base["contact_id"].to_numpy(dtype=object), dtype=object),
            "play_id": pd.Series([play_id] * n, dtype=object),
            "node_id": pd.Series([nd.id if nd else None] * n, dtype=object),
            "sequence_id": pd.Series([nd.sequence_id if nd else None] * n, dtype=object),
            "outcome": pd.Series(out_k, dtype=object),
            "blocking": pd.Series(blocking[inverse, k], dtype=object),
            "reason": pd.Series(reasons, dtype=object),
            "_order": np.arange(n) * len(slots) + k,
        }))
    out = pd.concat(frames, ignore_index=True).sort_values("_order", kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)[columns]


def _sequence_levels(ev: Evaluation, levels: _Levels) -> tuple[list[str], np.ndarray]:
    seqs = [s.id for s in ev.settings.sequences]
    n = len(ev.exclusion_ids)
    on = (np.stack([levels.org & levels.rulesets[s.ruleset] for s in ev.settings.sequences])
          if seqs else np.zeros((0, n), dtype=bool))
    return seqs, on


def send_decisions(con: duckdb.DuckDBPyConnection, ev: Evaluation,
                   enrollment_ids: list[str] | None = None) -> pd.DataFrame:
    """Send time (PRODUCT.md 7, 8): what happens to each enrollment's next step under ``ev``.

    * ``queued``: ``send``, or ``skip`` with reason ``opted_out`` | ``excluded`` (an exclusion on at the
      organisation level and in the sequence's ruleset applies to the contact);
    * ``active``: ``send``; ``remove`` with reason ``opted_out`` | ``excluded_mid_sequence`` (only an
      exclusion with ``remove_from_active_sequences`` removes); ``continue`` when blocking exclusions
      apply but none removes active participants (the step is sent);
    * other states: ``none``.

    Audience exclusions apply at Play entry only. A contact missing from the contacts table is
    skipped/removed with reason ``unknown_contact``. Columns: enrollment_id, contact_id, play_id, node_id,
    sequence_id, state, current_step, decision, reason, will_send, blocking (list of {exclusion_id, name,
    level, ruleset_id, remove_from_active_sequences}), text."""
    if enrollment_ids is None:
        return _send_frame(con, ev, "", [])
    return _send_frame(con, ev, "WHERE e.enrollment_id IN (SELECT unnest(?::VARCHAR[]))",
                       [[str(x) for x in enrollment_ids]])


def _send_frame(con: duckdb.DuckDBPyConnection, ev: Evaluation, where: str, params: list) -> pd.DataFrame:
    _check_visible(con, ev)
    df = con.execute(
        f"SELECT e.enrollment_id, e.contact_id, e.play_id, e.node_id, e.sequence_id, e.state, e.current_step, "
        f"x.group_id, x.opt_source FROM enrollments e LEFT JOIN {ev.table} x ON x.contact_id = e.contact_id "
        f"{where} ORDER BY e.enrollment_id", params).df()
    return _decide(ev, df)


def _pair_decisions(ev: Evaluation, g: int | None, sequence_id: str | None,
                    seq_on: np.ndarray | None) -> tuple[dict, list, bool]:
    """What happens at send time to the contacts of group ``g`` in a sequence: {state code: (decision,
    reason, text)} for 1 = queued and 2 = active, the blocking exclusions, opted out. (An opted-out
    contact's text names its opt-out source, which is per contact: the caller adds it.)"""
    if g is None:
        return ({1: ("skip", "unknown_contact", "contact not found: will not be emailed"),
                 2: ("remove", "unknown_contact", "contact not found: will not be emailed")}, [], False)
    bl = []
    if sequence_id is not None:
        rs = ev.settings.ruleset(ev.settings.sequence(sequence_id).ruleset)
        for i in np.flatnonzero(ev.matches[g] & seq_on):
            e = ev.settings.exclusions[i]
            bl.append({"exclusion_id": e.id, "name": e.name, "level": "sequence", "ruleset_id": rs.id,
                       "remove_from_active_sequences": e.remove_from_active_sequences,
                       "text": f"{e.name} (org on + ruleset {rs.name} on)"})
    opted = bool(ev.opted[g])
    if opted:
        return {1: ("skip", "opted_out", None), 2: ("remove", "opted_out", None)}, bl, True
    if not bl:
        return {1: ("send", None, None), 2: ("send", None, None)}, bl, False
    queued = ("skip", "excluded", "will be skipped at send time: " + "; ".join(b["text"] for b in bl))
    removing = [b for b in bl if b["remove_from_active_sequences"]]
    if removing:
        active = ("remove", "excluded_mid_sequence",
                  "will be removed (remove from active sequences): " + "; ".join(b["text"] for b in removing))
    else:
        active = ("continue", None,
                  "continues: " + "; ".join(b["text"] for b in bl) + " (not set to remove active participants)")
    return {1: queued, 2: active}, bl, False


def _opted_decision_text(state_code: int, source: str | None) -> str:
    prefix = "will be skipped at send time: " if state_code == 1 else "will be removed: "
    return prefix + _opt_out_text(source)


def _decide(ev: Evaluation, df: pd.DataFrame) -> pd.DataFrame:
    """Send-time decisions for enrollments with their contact's ``group_id`` and ``opt_source``."""
    columns = ["enrollment_id", "contact_id", "play_id", "node_id", "sequence_id", "state", "current_step",
               "decision", "reason", "will_send", "blocking", "text"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    levels = _saved_levels(ev)
    seqs, seq_on = _sequence_levels(ev, levels)
    seq_index = {s: k for k, s in enumerate(seqs)}
    s_idx = df["sequence_id"].map(seq_index).fillna(-1).astype(np.int64).to_numpy()
    g_idx = df["group_id"].fillna(-1).astype(np.int64).to_numpy()
    S = len(seqs) + 1
    pair = (g_idx + 1) * S + (s_idx + 1)
    uniq, inverse = np.unique(pair, return_inverse=True)
    # decision, reason and text per (contact group x sequence) pair and state (0 other, 1 queued, 2 active)
    P = len(uniq)
    decision_t = np.full((P, 3), "none", dtype=object)
    reason_t = np.full((P, 3), None, dtype=object)
    text_t = np.full((P, 3), None, dtype=object)
    blocking_p = np.empty(P, dtype=object)
    opted_p = np.zeros(P, dtype=bool)
    for u, code in enumerate(uniq.tolist()):
        g, k = int(code // S) - 1, int(code % S) - 1
        table, blocking_p[u], opted_p[u] = _pair_decisions(ev, None if g < 0 else g,
                                                           seqs[k] if k >= 0 else None, seq_on[k] if k >= 0 else None)
        for state in (1, 2):
            decision_t[u, state], reason_t[u, state], text_t[u, state] = table[state]
    states = df["state"].to_numpy(dtype=object)
    state_code = np.where(states == "queued", 1, np.where(states == "active", 2, 0))
    inverse = np.asarray(inverse).reshape(-1)
    decisions = decision_t[inverse, state_code]
    reasons = reason_t[inverse, state_code]
    texts = text_t[inverse, state_code]
    opted_rows = opted_p[inverse] & (state_code > 0)
    if opted_rows.any():
        src = df["opt_source"].to_numpy(dtype=object)
        for row in np.flatnonzero(opted_rows):
            texts[row] = _opted_decision_text(int(state_code[row]), src[row] if isinstance(src[row], str) else None)
    blocking = blocking_p[inverse]
    out = df.drop(columns=["group_id", "opt_source"])
    out["decision"] = pd.Series(decisions, index=out.index, dtype=object)
    out["reason"] = pd.Series(reasons, index=out.index, dtype=object)
    out["will_send"] = out["decision"].isin(["send", "continue"])
    out["blocking"] = pd.Series(blocking, index=out.index, dtype=object)
    out["text"] = pd.Series(texts, index=out.index, dtype=object)
    return out[columns]


# --- explain: one contact's Exclusion tab ------------------------------------------------------------------


def _contributing(cond: dict, values: dict[str, bool], path: str = "") -> list[str]:
    """Paths of the leaves that make ``cond`` come out as it does (for the evidence list)."""
    result = vocab.evaluate_tree(cond, values, path)
    for key in ("all", "any"):
        if key in cond:
            out = []
            for i, sub in enumerate(cond[key]):
                p = f"{path}{key}[{i}]."
                if vocab.evaluate_tree(sub, values, p) == result:
                    out.extend(_contributing(sub, values, p))
            return out
    if "not" in cond:
        return _contributing(cond["not"], values, f"{path}not.")
    return [path.rstrip(".") or "leaf"]


def _fmt_value(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return _iso(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _record_label(rec: dict) -> str:
    return f"company record {rec['domain']} #{rec['num']}"


def _opportunity_text(o: dict, rec: dict | None) -> str:
    crm = states.label(states.CRMS, o["crm"])
    kind = "deal" if o["crm"] == "hubspot" else "opportunity"
    state = "won" if o["is_won"] else ("open" if not o["is_closed"] else "closed")
    where = f" on {_record_label(rec)}" if rec else ""
    extra = [x for x in (o.get("name"), o.get("stage")) if x]
    if o.get("amount") is not None and not pd.isna(o.get("amount")):
        extra.append(f"amount {o['amount']:g}")
    return f"{state} {kind} {o['crm_id']} in {crm}{where}" + (f" ({', '.join(extra)})" if extra else "")


def _leaf_evidence(leaf: dict, value: Any, result: bool, records: list[dict], opps: list[dict],
                   record_hits: dict[str, list[bool]] | None, path: str) -> list[str]:
    fld = vocab.FIELDS[leaf["field"]]
    by_id = {r["record_id"]: r for r in records}
    name = fld.name
    if name in OPPORTUNITY_FIELDS:
        if name == "won_opportunities":
            chosen = [o for o in opps if o["is_won"]]
        elif name == "last_opportunity_created_at":
            dated = [o for o in opps if o["created_at"] is not None and not pd.isna(o["created_at"])]
            chosen = sorted(dated, key=lambda o: o["created_at"])[-1:]
        else:
            crm = {"open_opportunities_salesforce": "salesforce", "open_deals_hubspot": "hubspot"}.get(name)
            chosen = [o for o in opps if not o["is_closed"] and (crm is None or o["crm"] == crm)]
        if not chosen:
            return [f"{fld.label}: {_fmt_value(value)} (no such opportunity on any company record of the domain)"]
        return [_opportunity_text(o, by_id.get(o["record_id"])) for o in chosen]
    if name == "is_customer":
        cust = [r for r in records if r["is_customer"]]
        if not cust:
            return ["no company record of the domain is marked as a customer"]
        return [f"customer: {_record_label(r)} in {states.label(states.CRMS, r['crm'])}" for r in cust]
    if name == "company_records":
        return [f"{len(records)} company record(s): "
                + ", ".join(f"{_record_label(r)} in {states.label(states.CRMS, r['crm'])}" for r in records)]
    if fld.entity == "record":
        col = {"company_name": "name", "industry": "industry", "employees": "employees"}[name]
        hits = (record_hits or {}).get(path, [False] * len(records))
        if not records:
            return ["the domain has no company record"]
        out = []
        for r, hit in zip(records, hits, strict=True):
            if hit or not result or vocab.OPERATORS[leaf["op"]].negative:
                out.append(f"{_record_label(r)} in {states.label(states.CRMS, r['crm'])}: "
                           f"{fld.label.lower()} {_fmt_value(r[col])}")
        return out
    return [f"{fld.label}: {_fmt_value(value)}"]


def _single(settings: Settings, version: int | None, as_of: dt.datetime, row: dict, W: int, Wa: int,
            template: Evaluation) -> Evaluation:
    """A one-contact evaluation (one group) so that the funnel code answers for it too."""
    masks = np.array([[row[f"m{w}"] for w in range(W)]], dtype=np.uint64)
    aud = np.array([[row[f"a{w}"] for w in range(Wa)]], dtype=np.uint64)
    return Evaluation(settings=settings, version=version, as_of=as_of, generation=template.generation,
                      instance=template.instance, table=template.table, stats_table=template.stats_table,
                      groups_table=template.groups_table, opted=np.array([bool(row["opted"])]),
                      audience=_unpack(aud, len(settings.plays)), masks=masks,
                      matches=_unpack(masks, len(settings.exclusions)), counts=np.array([1], dtype=np.int64),
                      seconds=0.0, catalog=template.catalog)


def _answer(ev: Evaluation, g: int) -> dict:
    """What happens to the contacts of group g: per sequence and per Play node, with the blockers."""
    levels = _saved_levels(ev)
    seqs, seq_on = _sequence_levels(ev, levels)
    out = {"opted_out": bool(ev.opted[g]), "sequences": {}, "plays": {}}
    row = ev.matches[g]
    for k, sid in enumerate(seqs):
        out["sequences"][sid] = [ev.exclusion_ids[i] for i in np.flatnonzero(row & seq_on[k])]
    for pid in ev.play_ids:
        f = _funnel(ev, pid, levels)
        if not f.entered[g]:
            out["plays"][pid] = {"outcome": "not_in_audience", "nodes": {}}
            continue
        if f.opted_out[g]:
            outcome = "opted_out"
        elif f.excluded_at_audience[g]:
            outcome = "excluded_at_audience"
        else:
            outcome = "entered"
        nodes = {}
        for k, nd in enumerate(f.nodes):
            if outcome != "entered":
                nodes[nd.id] = outcome
            else:
                nodes[nd.id] = "not_enrolled" if f.node_blocked[g, k] else "enrolled"
        out["plays"][pid] = {"outcome": outcome, "nodes": nodes,
                             "blockers": _blockers(ev, f, levels, g)}
    return out


def _words_of(outcome: str) -> str:
    return outcome.replace("_", " ")


def _answer_changes(ev_now: Evaluation, now: dict, ev_next: Evaluation, nxt: dict) -> list[str]:
    out = []
    if now["opted_out"] != nxt["opted_out"]:
        out.append("opt-out status changes")
    names = {s.id: s.name for s in ev_next.settings.sequences} | {s.id: s.name for s in ev_now.settings.sequences}
    for sid in sorted(set(now["sequences"]) | set(nxt["sequences"])):
        a, b = now["sequences"].get(sid), nxt["sequences"].get(sid)
        if a is None or b is None:
            out.append(f"sequence {names.get(sid, sid)} is {'added' if a is None else 'removed'}")
        elif bool(a) != bool(b) and not nxt["opted_out"]:
            out.append(f"sequence {names.get(sid, sid)}: {'blocked' if a else 'not blocked'} -> "
                       f"{'blocked by ' + ', '.join(b) if b else 'not blocked'}")
        elif a != b and b:
            out.append(f"sequence {names.get(sid, sid)}: blocked by {', '.join(b)} (was {', '.join(a)})")
    for pid in sorted(set(now["plays"]) | set(nxt["plays"])):
        a, b = now["plays"].get(pid), nxt["plays"].get(pid)
        if a is None or b is None:
            continue
        play = ev_next.settings.play(pid)
        if a["outcome"] != b["outcome"]:
            out.append(f"play {play.name}: {_words_of(a['outcome'])} -> {_words_of(b['outcome'])}")
            continue
        for node in play.nodes:
            if node.id in a["nodes"] and node.id in b["nodes"] and a["nodes"][node.id] != b["nodes"][node.id]:
                label = node.name or ev_next.settings.sequence(node.sequence).name
                out.append(f"play {play.name}, node {label}: {_words_of(a['nodes'][node.id])} -> "
                           f"{_words_of(b['nodes'][node.id])}")
    return out


def _point_ctes(ev: Evaluation, contacts_where: str, params: list, domain: str | None) -> tuple[str, list]:
    """WITH clauses that bind ``contacts``, ``company_records`` and the domain aggregates ``d_point`` to
    the rows of a few contacts of one domain, so that the compiled criteria (which read those names)
    evaluate a few contacts without scanning a million. Exact for contacts of ``domain``: record fields
    only read the records of the contact's own domain."""
    main = f"{db.ident(ev.catalog)}.main"
    return (f"WITH contacts AS (SELECT * FROM {main}.contacts WHERE {contacts_where}), "
            f"company_records AS (SELECT * FROM {main}.company_records WHERE domain = ?), "
            f"d_point AS (SELECT * FROM {ev.stats_table} WHERE domain = ?)"), [*params, domain, domain]


def explain(con: duckdb.DuckDBPyConnection, email: str, *, as_of: dt.datetime | None = None) -> dict:
    """One contact's Exclusion tab (JSON-able): opt-out status and source; every exclusion with whether it
    applies, the values that matched, its state at each level, the sequences and audiences it blocks and
    what would let the contact through; the contact's enrollments and what happens at their next send;
    pending settings versions that would change the answer."""
    key = (email or "").strip().lower()
    ev = evaluation(con, as_of=as_of)
    as_of = ev.as_of if as_of is None else _as_of(con, as_of)
    _check_visible(con, ev)
    s = ev.settings
    levels = _saved_levels(ev)

    # every leaf of every criterion and filter, with the field's value, for this contact: one query over
    # the contact's rows (point CTEs shadow the big tables), together with the contact and its group
    # (each distinct leaf and each field's value once: the query's planning time grows with its columns)
    leaf_cols, leaf_params, leaf_index = [], [], []
    leaf_pos: dict[tuple, int] = {}
    value_pos: dict[str, int] = {}
    for i, e in enumerate(s.exclusions):
        for part, cond in [("criteria", e.criteria)] + [(f"filters[{j}]", f) for j, f in enumerate(e.filters)]:
            for path, leaf in vocab.leaves(cond):
                sql, p = vocab.leaf_sql(leaf, as_of)
                k = (sql, repr(p))
                if k not in leaf_pos:
                    leaf_pos[k] = len(leaf_cols)
                    leaf_cols.append(sql)
                    leaf_params.extend(p)
                fld = vocab.FIELDS[leaf["field"]]
                if fld.entity != "record" and fld.name not in value_pos:
                    value_pos[fld.name] = len(leaf_cols)
                    leaf_cols.append(fld.sql)
                leaf_index.append((i, part, path, leaf, leaf_pos[k], value_pos.get(fld.name)))
    records_pos = len(leaf_cols)
    leaf_cols.append("coalesce(d.company_records, 0)")
    base = vocab.base_from("d_point")
    cur = con.execute(f"SELECT c.*, x.group_id, x.opt_source FROM contacts c, {ev.table} x "
                      "WHERE c.email = ? AND x.email = ?", [key, key])
    found = cur.fetchone()
    if found is None:
        raise NotFound(f"unknown email {email!r}: no contact has this address")
    contact = dict(zip([d[0] for d in cur.description[:-2]], found[:-2], strict=True))
    g, opt_source = int(found[-2]), found[-1]
    ctes, cte_params = _point_ctes(ev, "email = ?", [key], contact["domain"])
    own_row = con.execute(f"{ctes} SELECT {', '.join(leaf_cols)} FROM {base}", cte_params + leaf_params).fetchone()
    cid, domain = contact["contact_id"], contact["domain"]
    status = optouts.opt_out_status(con, s, key, as_of) if ev.opted[g] else None

    own: dict[int, dict] = collections.defaultdict(lambda: collections.defaultdict(dict))
    for i, part, path, _leaf, lp, vp in leaf_index:
        own[i][part][path] = (bool(own_row[lp]), None if vp is None else own_row[vp])

    def own_match_of(i: int) -> bool:
        vals = {p: v[0] for p, v in own[i]["criteria"].items()}
        return vocab.evaluate_tree(s.exclusions[i].criteria, vals) if vals else False

    def filters_hold_of(i: int) -> list[bool]:
        return [vocab.evaluate_tree(f, {p: v[0] for p, v in own[i][f"filters[{j}]"].items()})
                for j, f in enumerate(s.exclusions[i].filters)]

    # company-wide exclusions that apply (or would, but for a filter) through another contact of the
    # domain: name that contact
    matchers: dict[int, dict] = {}
    company_ix = [i for i, e in enumerate(s.exclusions)
                  if e.company_wide and not own_match_of(i) and (ev.matches[g, i] or not all(filters_hold_of(i)))]
    if company_ix and domain is not None:
        # one query over the domain's contacts: per exclusion, the first matching contact (by email), how
        # many match, and that contact's leaf values
        cols, params, layout = [], [], []
        for i in company_ix:
            crit, cp = vocab.compile_sql(s.exclusions[i].criteria, as_of)
            cols.append(f"arg_min(c.email, c.email) FILTER (WHERE {crit}), count(*) FILTER (WHERE {crit})")
            params.extend(cp * 2)
            paths = []
            for path, leaf in vocab.leaves(s.exclusions[i].criteria):
                sql, p = vocab.leaf_sql(leaf, as_of)
                fld = vocab.FIELDS[leaf["field"]]
                value = fld.sql if fld.entity != "record" else "NULL"
                cols.append(f"arg_min({sql}, c.email) FILTER (WHERE {crit}), "
                            f"arg_min({value}, c.email) FILTER (WHERE {crit})")
                params.extend(p + cp + cp)
                paths.append(path)
            layout.append((i, paths))
        ctes, cte_params = _point_ctes(ev, "domain = ?", [domain], domain)
        got = con.execute(f"{ctes} SELECT {', '.join(cols)} FROM {base}", cte_params + params).fetchone()
        k = 0
        for i, paths in layout:
            first, count = got[k], int(got[k + 1] or 0)
            k += 2
            values = {}
            for path in paths:
                values[path] = (bool(got[k]), got[k + 1])
                k += 2
            matchers[i] = {"first": first, "count": count, "leaves": {"criteria": values}}

    # company records of the domain (numbered #1, #2 by crm, crm_id) with their opportunities
    records, opps, record_hits = [], [], {}
    used = {vocab.FIELDS[x[3]["field"]] for x in leaf_index}
    if domain is not None and own_row[records_pos] and any(f.entity in ("company", "record") for f in used):
        rec_leaves = [(i, part, path, leaf) for (i, part, path, leaf, _lp, _vp) in leaf_index
                      if vocab.FIELDS[leaf["field"]].entity == "record"]
        cols, params = [], []
        for _i, _part, _path, leaf in rec_leaves:
            sql, p = vocab.record_match_sql(leaf, as_of)
            cols.append(sql)
            params.extend(p)
        cur = con.execute(
            "SELECT r.record_id, r.crm, r.crm_id, r.name, r.website, r.domain, r.is_customer, r.industry, "
            "r.employees, 0 AS num, o.opportunity_id, o.crm, o.crm_id, o.name, o.stage, o.is_closed, o.is_won, "
            "o.amount, o.created_at" + "".join(f", {c}" for c in cols)
            + " FROM company_records r LEFT JOIN opportunities o ON o.record_id = r.record_id "
            "WHERE r.domain = ? ORDER BY r.crm, r.crm_id, r.record_id, o.crm, o.crm_id", params + [domain])
        rnames = ["record_id", "crm", "crm_id", "name", "website", "domain", "is_customer", "industry", "employees",
                  "num"]
        onames = ["opportunity_id", "crm", "crm_id", "name", "stage", "is_closed", "is_won", "amount", "created_at"]
        for r in cur.fetchall():
            if not records or records[-1]["record_id"] != r[0]:
                records.append({**dict(zip(rnames, r[:10], strict=True)), "num": len(records) + 1})
                for n_, (i, part, path, _leaf) in enumerate(rec_leaves):
                    record_hits.setdefault((i, part), {}).setdefault(path, []).append(bool(r[19 + n_]))
            if r[10] is not None:
                opps.append({**dict(zip(onames, r[10:19], strict=True)), "record_id": r[0]})
        opps.sort(key=lambda o: (o["crm"], o["crm_id"]))

    since = ev._memo.get("since")
    if since is None:
        since = ev._memo["since"] = dict(con.execute(
            "SELECT object_id, max(effective_at) FROM settings_changes WHERE object_type = 'exclusion' "
            "AND version <= ? GROUP BY object_id", [ev.version or 0]).fetchall())

    seq_by_rs: dict[str, list] = collections.defaultdict(list)
    for sq in s.sequences:
        seq_by_rs[sq.ruleset].append(sq)
    answer = _answer(ev, g)
    opted = bool(ev.opted[g])
    exclusions = []
    for i, e in enumerate(s.exclusions):
        applies = bool(ev.matches[g, i])

        def described(person_vals: dict, part: str, cond: dict) -> tuple[list[dict], list[str]]:
            vals = {p: v[0] for p, v in person_vals.get(part, {}).items()}  # noqa: B023
            leaves_out, evidence = [], []
            contributing = set(_contributing(cond, vals)) if vals else set()
            for path, leaf in vocab.leaves(cond):
                result, value = person_vals.get(part, {}).get(path, (False, None))
                ev_lines = _leaf_evidence(leaf, value, result, records, opps,
                                          record_hits.get((i, part)), path)  # noqa: B023
                leaves_out.append({"path": path, "condition": vocab.describe(leaf), "result": result,
                                   "value": _jsonable(value), "evidence": ev_lines})
                if path in contributing:
                    evidence.extend(ev_lines)
            return leaves_out, evidence

        crit_leaves, crit_evidence = described(own[i], "criteria", e.criteria)
        own_match = own_match_of(i)
        filters_hold = filters_hold_of(i)
        let_through_by = [vocab.describe(f) for f, ok in zip(e.filters, filters_hold, strict=True) if not ok]
        company = None
        matched_by = "contact" if own_match else None
        if e.company_wide and domain is not None:
            m = matchers.get(i)
            if m is None and own_match:
                m = {"first": key, "count": None}
            if m and m["first"]:
                if not own_match:
                    matched_by = "company"
                    _l, crit_evidence = described(m["leaves"], "criteria", e.criteria)
                    crit_evidence = [f"{m['first']}: {line}" for line in crit_evidence]
                company = {"matched_by": m["first"], "contacts_matching": m["count"],
                           "text": (f"company-wide: {m['first']} matched" if m["first"] != key
                                    else f"company-wide: this contact matched (every contact of {domain} "
                                         "is excluded)")}
        matches = own_match or matched_by == "company"
        blocked_seqs = [sq for sq in s.sequences if applies and levels.org[i] and levels.rulesets[sq.ruleset][i]]
        blocked_aud = [p for p in s.plays if applies and levels.audiences[p.id][i]
                       and ev.audience[g, ev._play_index[p.id]]]
        let_through = []
        if applies and (blocked_seqs or blocked_aud):
            if blocked_seqs:
                let_through.append(f"turn '{e.name}' off at the organisation level (Exclude from Sequences): "
                                   "unblocks it in every sequence")
                for rs_id in sorted({sq.ruleset for sq in blocked_seqs}):
                    rs = s.ruleset(rs_id)
                    let_through.append(f"turn '{e.name}' off in ruleset {rs.name} (sequences "
                                       + ", ".join(x.name for x in seq_by_rs[rs_id]) + ")")
            for p in blocked_aud:
                let_through.append(f"turn '{e.name}' off at the audience of play {p.name}")
            let_through.append(f"add the filter Email is not {key} to '{e.name}' (takes effect after "
                               f"{s.propagation_minutes} minutes)")
        if applies:
            state = "applies"
            text = f"{e.name}: matches" + (f" ({company['text']})" if company and matched_by == "company" else "")
            if not blocked_seqs and not blocked_aud:
                text += (": blocks nothing, off at the organisation level" if not levels.org[i] else
                         ": blocks nothing, off in every ruleset and at the audiences of the contact's plays")
        elif matches and let_through_by:
            state = "let_through"
            text = f"{e.name}: matches but let through by filter {'; '.join(let_through_by)}"
        else:
            state = "no_match"
            text = f"{e.name}: does not match"
        exclusions.append({
            "id": e.id, "name": e.name, "scope": e.scope, "criteria": vocab.describe(e.criteria),
            "filters": [vocab.describe(f) for f in e.filters], "state": state, "applies": applies,
            "matches": matches, "matched_by": matched_by, "company": company,
            "let_through_by": let_through_by, "evidence": crit_evidence if matches else [],
            "leaves": crit_leaves,
            "remove_from_active_sequences": e.remove_from_active_sequences,
            "levels": {"organisation": bool(levels.org[i]),
                       "rulesets": {r.id: bool(levels.rulesets[r.id][i]) for r in s.rulesets},
                       "audiences": {p.id: bool(levels.audiences[p.id][i]) for p in s.plays}},
            "blocks": {"sequences": [{"id": sq.id, "name": sq.name, "ruleset_id": sq.ruleset} for sq in blocked_seqs],
                       "audiences": [{"play_id": p.id, "name": p.name} for p in blocked_aud]},
            "since": _iso(since.get(e.id)),
            "let_through": [] if opted else let_through,
            "text": text,
        })

    sequences = []
    for sq in s.sequences:
        blockers = answer["sequences"][sq.id]
        rs = s.ruleset(sq.ruleset)
        sequences.append({
            "id": sq.id, "name": sq.name, "ruleset_id": rs.id, "ruleset_name": rs.name,
            "blocked": opted or bool(blockers), "opted_out": opted,
            "blocking": [{"exclusion_id": x, "name": s.exclusion(x).name,
                          "text": f"{s.exclusion(x).name} (org on + ruleset {rs.name} on)"} for x in blockers],
        })
    plays = []
    for p in s.plays:
        a = answer["plays"][p.id]
        plays.append({"id": p.id, "name": p.name, "outcome": a["outcome"], "nodes": a["nodes"],
                      "blocking": a.get("blockers", [])})

    enrollments = []
    cur = con.execute("SELECT enrollment_id, play_id, node_id, sequence_id, state, completion_reason, current_step, "
                      "next_step_at, enrolled_at, updated_at FROM enrollments WHERE contact_id = ? "
                      "ORDER BY enrolled_at NULLS LAST, enrollment_id", [cid])
    enames = [d[0] for d in cur.description]
    erows = [dict(zip(enames, r, strict=True)) for r in cur.fetchall()]
    if erows:
        seq_ids = [sq.id for sq in s.sequences]
        seqs_on = dict(zip(seq_ids, _sequence_levels(ev, levels)[1], strict=True))
        for r in erows:
            code = {"queued": 1, "active": 2}.get(r["state"], 0)
            known = r["sequence_id"] in seqs_on
            table, _bl, opted_ = _pair_decisions(ev, g, r["sequence_id"] if known else None,
                                                 seqs_on.get(r["sequence_id"]))
            decision, reason, text = table[code] if code else ("none", None, None)
            if code and opted_:
                text = _opted_decision_text(code, opt_source)
            if not code:
                text = f"{r['state']}" + (f" ({r['completion_reason']})" if r["completion_reason"] else "")
            elif decision == "send":
                text = "next step will be sent"
            enrollments.append({**{k: _jsonable(v) for k, v in r.items()}, "decision": decision,
                                "reason": reason, "text": text})

    pending = []
    last_effective = ev._memo.get("last_effective", ())
    if last_effective == ():  # per evaluation (a saved version bumps the data generation)
        last_effective = ev._memo["last_effective"] = con.execute(
            "SELECT max(effective_at) FROM settings_versions").fetchone()[0]
    maybe_pending = last_effective is not None and last_effective > as_of
    for pv in settings_mod.pending_versions(con, as_of) if maybe_pending else []:
        doc = con.execute("SELECT document FROM settings_versions WHERE version = ?", [pv["version"]]).fetchone()[0]
        nxt = settings_mod.parse_settings(json.loads(doc))
        at = pv["effective_at"]
        sql, params, W, Wa = _relation_sql(nxt, at, "d_point")
        where, wp = ("domain = ?", [domain]) if domain is not None else ("contact_id = ?", [cid])
        ctes, cte_params = _point_ctes(ev, where, wp, domain)
        cur = con.execute(f"{ctes} SELECT * FROM ({sql}) WHERE contact_id = ?", cte_params + params + [cid])
        rn = [d[0] for d in cur.description]
        one = dict(zip(rn, cur.fetchone(), strict=True))
        single = _single(nxt, pv["version"], at, one, W, Wa, ev)
        changes = _answer_changes(ev, answer, single, _answer(single, 0))
        pending.append({"version": pv["version"], "effective_at": _iso(at), "created_at": _iso(pv["created_at"]),
                        "actor": pv["actor"], "note": pv["note"], "changes_answer": bool(changes),
                        "changes": changes})

    opt_out = None
    if status is not None:
        opt_out = {"source": status["source"], "event_id": status["event_id"],
                   "opted_out_at": _iso(status["opted_out_at"]), "crm_flag": status["crm_flag"],
                   "text": _opt_out_text(status["source"])
                   + (f" since {_iso(status['opted_out_at'])}" if status["opted_out_at"] else "")
                   + ": removed from all active sequences and can enter none; no toggle changes that"}
    summary = []
    if opt_out:
        summary.append(opt_out["text"])
    for x in exclusions:
        if x["state"] != "no_match":
            summary.append(x["text"])
    for sq in sequences:
        if sq["blocking"] and not opted:
            summary.append(f"blocked in sequence {sq['name']} by " + ", ".join(b["name"] for b in sq["blocking"]))
    through = []
    if opted:
        through.append("nothing but a reversal of the opt-out with the contact's documented permission")
    else:
        for x in exclusions:
            through.extend(x["let_through"])
    return {
        "email": key,
        "contact": {k: _jsonable(v) for k, v in contact.items()},
        **ev.meta(),
        "opted_out": opted,
        "opt_out": opt_out,
        "exclusions": exclusions,
        "sequences": sequences,
        "plays": plays,
        "enrollments": enrollments,
        "pending": pending,
        "let_through": through,
        "summary": summary,
        "company_records": [{**{k: _jsonable(v) for k, v in r.items()}, "label": _record_label(r)} for r in records],
    }


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return _iso(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


# --- CLI -----------------------------------------------------------------------------------------------------


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, default=str, sort_keys=False))


def cli_explain(args) -> int:
    """``unify-dash explain EMAIL [--db PATH] [--at T] [--json]``."""
    con = db.connect(args.db)
    try:
        out = explain(con, args.email, as_of=db.parse_timestamp(args.at, "--at", "an ISO timestamp like 2026-11-26T09:00") if getattr(args, "at", None) else None)
    finally:
        con.close()
    if getattr(args, "json", False):
        _print_json(out)
        return 0
    c = out["contact"]
    name = " ".join(x for x in (c.get("first_name"), c.get("last_name")) if x)
    print(f"{out['email']}" + (f" ({name})" if name else "") + (f", {c['title']}" if c.get("title") else "")
          + (f", company {c['domain']}" if c.get("domain") else ""))
    print(f"as of {out['as_of']}, settings v{out['settings_version']}")
    print("opt-out: " + (out["opt_out"]["text"] if out["opt_out"] else "not opted out"))
    print("exclusions:")
    for x in out["exclusions"]:
        print(f"  - {x['text']}  [{x['scope']}] {x['criteria']}")
        if x["state"] == "no_match":
            continue
        for line in x["evidence"]:
            print(f"      * {line}")
        lv = x["levels"]
        print("      levels: organisation " + _state_word(lv["organisation"]) + "; "
              + "; ".join(f"ruleset {r} {_state_word(v)}" for r, v in lv["rulesets"].items())
              + ("; " if lv["audiences"] else "")
              + "; ".join(f"audience of {p} {_state_word(v)}" for p, v in lv["audiences"].items()))
        if x["blocks"]["sequences"]:
            print("      blocks sequences: " + ", ".join(sq["name"] for sq in x["blocks"]["sequences"]))
        if x["blocks"]["audiences"]:
            print("      blocks at the audience of: " + ", ".join(p["name"] for p in x["blocks"]["audiences"]))
    print("sequences:")
    for sq in out["sequences"]:
        state = ("opted out" if sq["opted_out"] else
                 "blocked by " + ", ".join(b["text"] for b in sq["blocking"]) if sq["blocked"] else "not blocked")
        print(f"  - {sq['name']} (ruleset {sq['ruleset_name']}): {state}")
    for p in out["plays"]:
        nodes = ", ".join(f"{k}: {v}" for k, v in p["nodes"].items())
        print(f"  play {p['name']}: {p['outcome']}" + (f" ({nodes})" if nodes else ""))
    if out["enrollments"]:
        print("enrollments:")
        for e in out["enrollments"]:
            print(f"  - {e['sequence_id']} [{e['state']}, step {e['current_step']}]: {e['text']}")
    for pv in out["pending"]:
        print(f"pending: settings v{pv['version']} takes effect {pv['effective_at']}: "
              + ("; ".join(pv["changes"]) if pv["changes"] else "no change for this contact"))
    if out["let_through"]:
        print("what would let the contact through:")
        for line in out["let_through"]:
            print(f"  - {line}")
    return 0


def parse_set(items: list[str], play: Play, settings: Settings) -> dict:
    """``EXCLUSION@LEVEL=on|off`` (LEVEL: audience | organisation | ruleset:ID | ruleset) -> toggles."""
    out = {}
    for item in items or []:
        text = item.strip()
        if "=" not in text or "@" not in text.split("=", 1)[0]:
            raise ValidationError(f"--set {item!r}: expected EXCLUSION@LEVEL=on|off")
        left, value = text.rsplit("=", 1)
        excl, level = left.split("@", 1)
        value = value.strip().lower()
        if value not in ("on", "off", "true", "false", "1", "0"):
            raise ValidationError(f"--set {item!r}: expected on or off after '='")
        on = value in ("on", "true", "1")
        settings.exclusion(excl)
        if level == "audience":
            out[(excl, "audience", play.id)] = on
        elif level in ("organisation", "organization", "org"):
            out[(excl, "organisation", None)] = on
        elif level == "ruleset":
            for nd in play.nodes:
                out[(excl, "ruleset", settings.sequence(nd.sequence).ruleset)] = on
        elif level.startswith("ruleset:"):
            rs = level.split(":", 1)[1]
            settings.ruleset(rs)
            out[(excl, "ruleset", rs)] = on
        else:
            raise ValidationError(f"--set {item!r}: unknown level {level!r}; expected audience, organisation, "
                                  "ruleset or ruleset:RULESET_ID")
    return out


def cli_impact(args) -> int:
    """``unify-dash impact --play ID [--set EXCLUSION@LEVEL=on|off ...] [--db PATH] [--json]``."""
    con = db.connect(args.db)
    try:
        ev = evaluation(con)
        _, play = ev.play(args.play)
        out = impact(ev, play.id, parse_set(getattr(args, "set", []), play, ev.settings))
    finally:
        con.close()
    if getattr(args, "json", False):
        _print_json(out)
        return 0
    print(f"play {out['play']['name']} ({out['play']['id']}), settings v{out['settings_version']} as of "
          f"{out['as_of']}, {out['contacts']} contacts")
    for t in out["toggles"]:
        print(f"  what-if: {t['exclusion_id']} @ {t['level']}{':' + t['target'] if t['target'] and t['level'] == 'ruleset' else ''}"
              f" = {'on' if t['on'] else 'off'}")

    def line(label: str, now: int, change: int) -> str:
        return f"{label:<28}{now:>10}" + (f"  ({change:+d} vs saved)" if change else "")

    for b in COUNT_KEYS:
        print(line(b.replace("_", " "), out[b], out["change"][b]))
    for nd in out["nodes"]:
        print(f"node {nd['id']} -> sequence {nd['sequence_name']} (ruleset {nd['ruleset_name']})")
        for b in ("reached", "not_enrolled", "enrolled"):
            print("  " + line(b.replace("_", " "), nd[b], nd["change"][b]))
    print(f"{'exclusion':<32}{'matched':>10}{'blocking':>10}{'alone':>10}  change(alone)")
    for x in out["exclusions"]:
        print(f"{x['name'][:31]:<32}{x['matched']:>10}{x['blocking']:>10}{x['blocks_alone']:>10}"
              f"  {x['change']['blocks_alone']:+d}")
    return 0
