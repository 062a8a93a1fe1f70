"""Moving an evaluation forward in time without re-evaluating every contact (the scheduler's ticks).

With the same settings version and the same data, an evaluation as of ``t`` differs from one as of an
earlier ``since`` only where time enters a rule or the opt-out relation:

* a **relative date** ("last contacted within the last N days", "more than N days ago") compares a
  date ``x`` with ``as_of - N``; the answer flips exactly when ``since - N <= x < t - N``, i.e. at
  ``x + N``, a known time per contact (company dates: per company key). With company-wide
  exclusions a flip moves every contact of the company domain, so whole domains are recomputed.
* an **opt-out** (or its reversal) recorded with a time in ``(since, t]`` moves that contact.

:func:`advance` recomputes only those contacts with the same compiled SQL as the full pass
(:func:`unify_dash.engine.evaluator._relation_sql`, restricted to them: the names ``contacts`` and
``events`` are bound to their rows, so nothing scans a million), maps their new keys to groups
(adding groups that did not exist), updates their rows of the per-contact table and adjusts the
group counts. The result is the evaluation a full pass as of ``t`` gives, up to the numbering of
groups (groups may be left empty): ``tests/test_incremental.py`` checks it contact by contact, and
the scheduler's decisions and execution log against full evaluations at every tick.

The evaluation is changed in place: use it only on an evaluation of your own (the scheduler's,
:func:`unify_dash.engine.evaluate`), never on one from the shared cache that pages read.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref

import duckdb
import numpy as np

from unify_dash.engine.evaluator import (
    EVAL_DB,
    WORD_BITS,
    Evaluation,
    _eval_lock,
    _forget,
    _relation_sql,
    _unpack,
    busy_sequences,
    company_words,
    group_keys,
    mask_words,
    node_slots,
    split_bits,
)
from unify_dash.engine.leafbits import bit_set, n_words, word, word_columns
from unify_dash.model import states, vocabulary
from unify_dash.model.settings import Settings
from unify_dash.store import db

# operators whose answer moves with the clock
RELATIVE_OPS = tuple(o.name for o in vocabulary.OPERATORS.values() if o.value == "days")
OPT_OUT_TYPES = "('opt_out', 'opt_out_reversal')"


def relative_leaves(settings: Settings) -> list[dict]:
    """Every relative-date leaf of the exclusions' criteria and filters and of the Plays' audiences."""
    out = []
    conds = [e.criteria for e in settings.exclusions] + [f for e in settings.exclusions for f in e.filters]
    conds += [p.audience for p in settings.plays if p.audience]
    for cond in conds:
        out += [leaf for _path, leaf in vocabulary.leaves(cond) if leaf["op"] in RELATIVE_OPS]
    return out


def crossing_sql(settings: Settings, stats_table: str, since: dt.datetime, t: dt.datetime) -> tuple[str, list] | None:
    """SELECT contact_id, domain of the contacts whose relative-date criteria can answer differently
    at ``t`` than at ``since``: the threshold ``as_of - N days`` moved from ``since - N`` to ``t - N``,
    so only a date in between flips. None when the settings have no relative date."""
    leaves = relative_leaves(settings)
    if not leaves:
        return None
    parts, params, seen = [], [], set()
    for leaf in leaves:
        field = vocabulary.FIELDS[leaf["field"]]
        n = dt.timedelta(days=float(leaf["value"]))
        if (field.sql, n) in seen:
            continue
        seen.add((field.sql, n))
        parts.append(f"({field.sql} >= ? AND {field.sql} < ?)")
        params += [since - n, t - n]
    return (f"SELECT c.contact_id, c.domain FROM {vocabulary.base_from(stats_table)} "
            f"WHERE {' OR '.join(parts)}"), params


def _flip_leaves(settings: Settings) -> list[tuple[str, float, bool]]:
    """(field SQL, days, company-wide) of every distinct relative-date leaf: company-wide when it is
    in the criteria of a company-wide exclusion (a flip then moves the contact's whole domain)."""
    out: dict[tuple[str, float], bool] = {}

    def add(cond, company: bool) -> None:
        for _path, leaf in vocabulary.leaves(cond):
            if leaf["op"] in RELATIVE_OPS:
                key = (vocabulary.FIELDS[leaf["field"]].sql, float(leaf["value"]))
                out[key] = out.get(key, False) or company
    for e in settings.exclusions:
        add(e.criteria, e.company_wide)
        for f in e.filters:
            add(f, False)
    for p in settings.plays:
        if p.audience:
            add(p.audience, False)
    return [(sql, days, company) for (sql, days), company in out.items()]


def _names(ev: Evaluation) -> dict[str, str]:
    base = ev.table.rsplit(".", 1)[-1].strip('"')
    return {k: f"{db.ident(EVAL_DB)}.{db.ident(base + '_' + k)}"
            for k in ("flips", "optev", "optmap", "cmap", "delta", "rows", "moved", "dk", "dd", "domk", "busy", "chg")}


# --- company-wide exclusions: per-domain counts ---------------------------------------------------------
#
# The pass gives a contact of a domain the company-wide bit of exclusion i when any contact of the domain
# matches i's criteria itself (``bit_or`` over the domain). The scheduler's evaluation keeps every
# contact's own company-wide criteria bits (``k<w>``) and filter words (``t<w>``) in its table, and the
# advance keeps per domain how many contacts match each company-wide exclusion's criteria (``dk``:
# ``n<i>``): a moved contact whose own bits flip changes its domain's count, and the domain's other
# contacts move only when a count crosses zero (0 -> 1 or 1 -> 0), not at every flip. Those others are
# not read again: their new masks follow from their group, their filter words and the domain's new bits.


def _company(settings: Settings) -> list[int]:
    """Indexes of the company-wide exclusions."""
    return [i for i, e in enumerate(settings.exclusions) if e.company_wide]


def _company_bits_sql(settings: Settings, dk: str, where: str = "domain IN (SELECT domain FROM base)",
                      prefix: str = "k") -> str:
    """The pass's ``dom`` relation (``domain, k0..``) from the per-domain counts, for the domains of the
    contacts the restricted pass reads (its ``base``; ``where``: others)."""
    bits = [(i, f"n{i} > 0") for i in _company(settings)]
    return (f"SELECT did, domain, {', '.join(word_columns(bits, n_words(len(settings.exclusions)), prefix))} "
            f"FROM {dk} WHERE {where}")


def _prepare(cur: duckdb.DuckDBPyConnection, ev: Evaluation) -> None:
    """Once per evaluation: the flip times still ahead (``flip_at`` = the date + N days: the leaf
    answers differently from then on, see the module docstring), sorted so that a tick reads its
    window only, and a copy of the opt-out and reversal events (few; the scheduler writes none).

    Every contact's positions are kept too (``cmap``: ``crid``, its ``rowid`` in ``contacts``; ``erid``,
    its row in the evaluation's table; ``did``, a number per domain, the map sorted by it), and the
    flips and opt-out events carry them: a tick reads the moved contacts' rows by position, never
    by a scan of a million contact ids (a position that no longer holds its contact is caught, see
    :func:`_recompute`). With company-wide exclusions ``dk`` holds the per-domain counts, taken from the
    own bits the evaluation's table keeps (no criteria are evaluated again). With one active sequence per
    contact ``busy`` holds the queued and active enrollments (kept up to date by :func:`_busy_moved`), which
    the restricted pass reads instead of the enrollments table."""
    names = _names(ev)
    main = f"{db.ident(ev.catalog)}.main"
    company = _company(ev.settings)
    W = n_words(len(ev.settings.exclusions))
    cur.execute(f"""CREATE OR REPLACE TABLE {names['cmap']} AS
        SELECT c.contact_id, c.email, c.crid, x.erid,
               CASE WHEN c.domain IS NOT NULL THEN dense_rank() OVER (ORDER BY c.domain) END AS did
               {", c.domain" if company else ""}
        FROM (SELECT rowid AS crid, contact_id, email, domain FROM {main}.contacts) c
        JOIN (SELECT rowid AS erid, contact_id FROM {ev.table}) x USING (contact_id)
        ORDER BY did, crid""")
    if company:
        counts = ", ".join(f"count(*) FILTER (WHERE {bit_set('x.k', i)}) AS n{i}" for i in company)
        cur.execute(f"CREATE OR REPLACE TABLE {names['dk']} AS SELECT m.did, any_value(m.domain) AS domain, {counts} "
                    f"FROM {names['cmap']} m JOIN (SELECT rowid AS erid, {', '.join(f'k{w}' for w in range(W))} "
                    f"FROM {ev.table}) x USING (erid) WHERE m.did IS NOT NULL GROUP BY m.did ORDER BY m.did")
    cmap = f"(SELECT rowid AS mrid, * FROM {names['cmap']})"
    leaves = _flip_leaves(ev.settings)
    if leaves:
        parts, params = [], []
        for sql, days, is_company in leaves:
            micros = round(days * 86_400_000_000)
            flip = f"({sql} + to_microseconds(?::BIGINT))"
            parts.append(f"SELECT {flip} AS flip_at, c.contact_id, ?::BOOLEAN AS company "
                         f"FROM {vocabulary.base_from(ev.stats_table)} WHERE {flip} >= ?")
            params += [micros, is_company, micros, ev.as_of]
        cur.execute(f"CREATE OR REPLACE TABLE {names['flips']} AS SELECT f.flip_at, f.company, m.contact_id, m.crid, "
                    f"m.erid, m.mrid, m.did FROM ({' UNION ALL '.join(parts)}) f JOIN {cmap} m USING (contact_id) "
                    "ORDER BY flip_at", params)
    else:
        cur.execute(f"CREATE OR REPLACE TABLE {names['flips']} (flip_at TIMESTAMP, company BOOLEAN, "
                    "contact_id VARCHAR, crid BIGINT, erid BIGINT, mrid BIGINT, did BIGINT)")
    cur.execute(f"CREATE OR REPLACE TABLE {names['optev']} AS SELECT e.*, lower(trim(coalesce(e.email, x.email))) "
                f"AS key FROM {main}.events e LEFT JOIN {main}.contacts x ON e.email IS NULL AND "
                f"x.contact_id = e.contact_id WHERE e.type IN {OPT_OUT_TYPES}")
    cur.execute(f"CREATE OR REPLACE TABLE {names['optmap']} AS SELECT o.occurred_at, m.contact_id, m.crid, m.erid, "
                f"m.mrid, m.did FROM {names['optev']} o JOIN {cmap} m ON m.email = o.key ORDER BY o.occurred_at")
    if busy_sequences(ev.settings):
        cur.execute(f"CREATE OR REPLACE TABLE {names['busy']} AS SELECT enrollment_id, contact_id, sequence_id, state "
                    f"FROM {main}.enrollments WHERE state IN {states.ACTIVE_SQL}")
    ev._memo["incremental"] = names
    weakref.finalize(ev, _forget, ev.instance,
                     (names["flips"], names["optev"], names["optmap"], names["cmap"], names["dk"], names["busy"]))


def _busy_moved(cur: duckdb.DuckDBPyConnection, ev: Evaluation, since: dt.datetime) -> None:
    """One active sequence per contact: ``chg``, the enrollments written since ``since`` (>=: a tick
    evaluates, then writes at its own time) that may have made their contact busy (enrolled or enrolled
    again since) or free (no longer queued or active); a step sent (queued -> active, active -> active)
    changes nothing, busy being "queued or active". ``busy`` (:func:`_prepare`) takes them in. (Any other
    writer of enrollments bumps the data generation: a full evaluation.)"""
    names = _names(ev)
    main = f"{db.ident(ev.catalog)}.main"
    at = since - dt.timedelta(milliseconds=1)
    cur.execute(f"CREATE OR REPLACE TABLE {names['chg']} AS SELECT enrollment_id, contact_id, sequence_id, state "
                f"FROM {main}.enrollments WHERE updated_at >= ? AND (state NOT IN {states.ACTIVE_SQL} OR enrolled_at >= ?)",
                [at, at])
    if cur.execute(f"SELECT count(*) FROM {names['chg']}").fetchall()[0][0]:
        cur.execute(f"DELETE FROM {names['busy']} WHERE enrollment_id IN (SELECT enrollment_id FROM {names['chg']})")
        cur.execute(f"INSERT INTO {names['busy']} SELECT * FROM {names['chg']} WHERE state IN {states.ACTIVE_SQL}")


def moved_sql(ev: Evaluation, since: dt.datetime, t: dt.datetime) -> tuple[str, list]:
    """SELECT contact_id, crid, erid, mrid, did (positions: :func:`_prepare`) of every contact whose own
    evaluation can differ between ``since`` and ``t`` (same settings, same data): relative-date flips in
    ``[since, t)``, contacts with an opt-out or reversal recorded in ``(since, t]`` and, with one
    active sequence per contact, those of the enrollments :func:`_busy_moved` took. (With a company-wide exclusion the other
    contacts of their domains are added by :func:`_recompute`, when a domain's count crosses zero.) A
    superset is harmless (those contacts are recomputed, not decided), a missing contact is not: the
    window is widened by a millisecond on both sides."""
    names = _names(ev)
    eps = dt.timedelta(milliseconds=1)
    busy = "" if not busy_sequences(ev.settings) else f"""
                           UNION ALL
                           SELECT contact_id, crid, erid, rowid AS mrid, did FROM {names['cmap']}
                           WHERE contact_id IN (SELECT contact_id FROM {names['chg']})"""
    params = [since - eps, t + eps, since, t]
    return (f"""SELECT contact_id, min(crid) AS crid, min(erid) AS erid, min(mrid) AS mrid, min(did) AS did FROM (
                SELECT contact_id, crid, erid, mrid, did FROM {names['flips']} WHERE flip_at >= ? AND flip_at <= ?
                UNION ALL
                SELECT contact_id, crid, erid, mrid, did FROM {names['optmap']}
                WHERE occurred_at > ? AND occurred_at <= ?{busy})
        GROUP BY contact_id"""), params


RESTRICTED_STATS = "_inc_stats"  # the restricted pass's name for its contacts' company aggregates


def _restricted_ctes(ev: Evaluation, delta: str, *, by_key: bool = False) -> str:
    """Bind ``contacts`` and ``events`` to the rows of the contacts in ``delta``, so the compiled pass and
    the opt-out relation read those rows only: by position (``by_key``: by id); and
    :data:`RESTRICTED_STATS` to their companies' rows of the evaluation's aggregates."""
    names = _names(ev)
    main = f"{db.ident(ev.catalog)}.main"
    pick = "contact_id IN (SELECT contact_id FROM {d})" if by_key else "rowid IN (SELECT crid FROM {d})"
    # one active sequence: the busy bits read the moved contacts' queued and active enrollments only (kept)
    busy = (f", enrollments AS (SELECT * FROM {names['busy']} WHERE contact_id IN (SELECT contact_id FROM {delta}))"
            if busy_sequences(ev.settings) else "")
    # their companies' aggregates only: a join with every domain's row builds its hash table over all of
    # them (about 180,000 at 1M) at every tick
    return (f"WITH contacts AS (SELECT * FROM {main}.contacts WHERE {pick.format(d=delta)}), "
            f"events AS (SELECT * EXCLUDE (key) FROM {names['optev']} WHERE key IN (SELECT email FROM contacts)), "
            f"{RESTRICTED_STATS} AS (SELECT * FROM {ev.stats_table} "
            f"WHERE domain IN (SELECT coalesce(x.company_key, x.domain) FROM contacts x)){busy}")


def advance(con: duckdb.DuckDBPyConnection, ev: Evaluation, t: dt.datetime) -> dict:
    """Move ``ev`` (same settings, same data) to as of ``t`` in place; returns ``{"contacts": recomputed,
    "changed": contacts whose group changed, "new_groups": n, "domains": company domains recomputed
    whole, "seconds": s}``.

    ``ev`` is the scheduler's evaluation (``evaluate(..., ordered=False)``: its table keeps the own bits
    and filter words this reads). The caller guarantees that nothing but time moved since ``ev.as_of``
    (the data generation and the settings version are those of ``ev``; the scheduler checks both)."""
    started = time.perf_counter()
    if t < ev.as_of:
        raise ValueError("an evaluation only moves forward in time")
    if ev.ordered:
        raise ValueError("only an unordered evaluation (the scheduler's) moves in time")
    stats = {"contacts": 0, "changed": 0, "new_groups": 0, "domains": 0}
    if t == ev.as_of:
        return {**stats, "seconds": 0.0}
    names = _names(ev)
    delta, rows = names["delta"], names["rows"]
    with _eval_lock(ev.instance):
        cur = con.cursor()
        try:
            if "incremental" not in ev._memo:
                _prepare(cur, ev)
            if busy_sequences(ev.settings):
                _busy_moved(cur, ev, ev.as_of)
            sql, params = moved_sql(ev, ev.as_of, t)
            cur.execute(f"CREATE OR REPLACE TABLE {delta} AS {sql}", params)
            if cur.execute(f"SELECT count(*) FROM {delta}").fetchall()[0][0]:
                stats.update(_recompute(cur, ev, t, delta, rows))
        except BaseException:
            ev._memo.pop("incremental", None)  # the kept positions and counts are taken again next time
            raise
        finally:
            for table in (delta, rows, names["moved"], names["dd"], names["domk"], names["chg"]):
                cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.close()
    ev.as_of = t
    ev._memo = {k: v for k, v in ev._memo.items() if k in ("levels", "visible_on", "since", "incremental")}
    return {**stats, "seconds": round(time.perf_counter() - started, 4)}


def _moved_rows(cur: duckdb.DuckDBPyConnection, ev: Evaluation, t: dt.datetime, delta: str, rows: str) -> int:
    """``rows``: the compiled pass as of ``t`` over the moved contacts' rows only (found by position, their
    rows of the evaluation's table too), with what the evaluation's table had for them (``old_group``,
    ``old_opt_source``, ``ok0..``, ``ot0..``). Company-wide bits as of the counts before this tick."""
    company = _company_bits_sql(ev.settings, _names(ev)["dk"]) if _company(ev.settings) else None
    sql, params, W, _Wa = _relation_sql(ev.settings, t, RESTRICTED_STATS, company_from=company, words=True)
    body = sql.strip().removeprefix("WITH ")
    old = "".join(f", k{w} AS ok{w}, t{w} AS ot{w}" for w in range(W))
    n = cur.execute(f"SELECT count(*) FROM {delta}").fetchall()[0][0]
    for by_key in (False, True):
        cur.execute(f"CREATE OR REPLACE TABLE {rows} AS SELECT r.* EXCLUDE (email), x.erid, x.old_group, "
                    f"x.old_opt_source{''.join(f', x.ok{w}, x.ot{w}' for w in range(W))}, d.did "
                    f"FROM ({_restricted_ctes(ev, delta, by_key=by_key)}, {body}) r "
                    f"JOIN (SELECT rowid AS erid, contact_id, group_id AS old_group, opt_source AS old_opt_source{old} "
                    f"FROM {ev.table} WHERE rowid IN (SELECT erid FROM {delta})) x USING (contact_id) "
                    f"JOIN (SELECT contact_id, did FROM {delta}) d USING (contact_id)", params)
        if cur.execute(f"SELECT count(*) FROM {rows}").fetchall()[0][0] == n:
            return n
        # a contact's position moved (contacts rewritten since the evaluation): by id this time, and the
        # positions are taken again at the next tick
        ev._memo.pop("incremental", None)
    raise RuntimeError("the moved contacts' rows of the evaluation were not found")


def _spread(cur: duckdb.DuckDBPyConnection, ev: Evaluation, rows: str) -> int:
    """Company-wide exclusions: the moved contacts' own bits adjust their domains' counts; in every domain
    where a count crossed zero the company-wide bits of all contacts change: the moved ones' masks are
    corrected, and the others are added to ``rows`` (from their group, their filter words and the
    domain's new bits; not read again). Returns the number of such domains."""
    names = _names(ev)
    company = _company(ev.settings)
    W = n_words(len(ev.settings.exclusions))
    comp = company_words(ev.settings)
    full = (1 << WORD_BITS) - 1
    changed = " OR ".join(f"k{w} <> ok{w}" for w in range(W))
    diff = ", ".join(f"sum(({bit_set('k', i)})::INTEGER - ({bit_set('ok', i)})::INTEGER) AS d{i}" for i in company)
    crossed = " OR ".join(f"((k.n{i} = 0) <> (k.n{i} + x.d{i} = 0))" for i in company)
    # the domains' count changes, and whether a count crosses zero (read before the counts are updated)
    cur.execute(f"CREATE OR REPLACE TABLE {names['dd']} AS SELECT x.*, ({crossed}) AS crossed "
                f"FROM (SELECT did, {diff} FROM {rows} WHERE did IS NOT NULL AND ({changed}) GROUP BY did) x "
                f"JOIN {names['dk']} k USING (did)")
    n_dd, domains = cur.execute(f"SELECT count(*), count(*) FILTER (WHERE crossed) FROM {names['dd']}").fetchall()[0]
    if not n_dd:
        return 0
    cur.execute(f"UPDATE {names['dk']} SET {', '.join(f'n{i} = n{i} + x.d{i}' for i in company)} "
                f"FROM {names['dd']} x WHERE {names['dk']}.did = x.did")
    if not domains:
        return 0
    cur.execute(f"CREATE OR REPLACE TABLE {names['domk']} AS " + _company_bits_sql(
        ev.settings, names["dk"], f"did IN (SELECT did FROM {names['dd']} WHERE crossed)", prefix="dk"))

    def mask(m: str, t: str, w: int) -> str:  # the pass's mask word with the domain's new company-wide bits
        return (f"(({m}{w} & {word(full ^ comp[w])}) | (d.dk{w} & ~{t}{w}))" if comp[w] else f"{m}{w}")
    fixed = ", ".join(f"m{w} = {mask(rows + '.m', rows + '.t', w)}" for w in range(W))
    cur.execute(f"UPDATE {rows} SET {fixed} "
                f"FROM {names['domk']} d WHERE {rows}.did = d.did")
    cur.execute(f"""INSERT INTO {rows} BY NAME
        SELECT x.contact_id, g.opted, x.opt_source, {', '.join(f'g.a{w}' for w in range(len(group_a(ev))))},
               {', '.join(f'{mask("g.m", "x.t", w)} AS m{w}' for w in range(W))},
               {', '.join(f'x.k{w}, x.t{w}, x.k{w} AS ok{w}, x.t{w} AS ot{w}' for w in range(W))},
               m.erid, x.group_id AS old_group, x.opt_source AS old_opt_source, m.did
        FROM (SELECT erid, did FROM {names['cmap']} WHERE did IN (SELECT did FROM {names['domk']})
              AND erid NOT IN (SELECT erid FROM {rows})) m
        JOIN {names['domk']} d USING (did)
        JOIN (SELECT rowid AS erid, * FROM {ev.table}) x USING (erid)
        JOIN {ev.groups_table} g ON g.group_id = x.group_id""")
    return int(domains)


def group_a(ev: Evaluation) -> range:
    """The audience words of the evaluation's groups."""
    return range(n_words(len(ev.settings.plays) + len(node_slots(ev.settings)) + len(busy_sequences(ev.settings))))


def _recompute(cur: duckdb.DuckDBPyConnection, ev: Evaluation, t: dt.datetime, delta: str, rows: str) -> dict:
    """Re-evaluate the contacts of ``delta`` as of ``t`` (and, with company-wide exclusions, the domains
    whose counts cross zero), move them between groups, add new groups."""
    W, Wa = n_words(len(ev.settings.exclusions)), len(group_a(ev))
    keys = group_keys(W, Wa)
    _moved_rows(cur, ev, t, delta, rows)
    domains = _spread(cur, ev, rows) if _company(ev.settings) else 0
    moved = _names(ev)["moved"]
    cur.execute(f"CREATE OR REPLACE TABLE {moved} AS SELECT r.*, g.group_id FROM {rows} r "
                f"LEFT JOIN {ev.groups_table} g USING ({', '.join(keys)})")
    n = cur.execute(f"SELECT count(*) FROM {moved}").fetchall()[0][0]
    new = cur.execute(f"SELECT {', '.join(keys)}, count(*) AS n FROM {moved} WHERE group_id IS NULL "
                      f"GROUP BY ALL ORDER BY ALL").fetchnumpy()
    G = len(ev.counts)
    added = len(new["opted"])
    if added:
        cur.register("_inc_new", {**{k: new[k] for k in keys}, "n": np.zeros(added, dtype=np.int64),
                                  "group_id": np.arange(G, G + added, dtype=np.int32)})
        try:
            cur.execute(f"INSERT INTO {ev.groups_table} BY NAME SELECT * FROM _inc_new")
            on = " AND ".join(f"{moved}.{k} = n.{k}" for k in keys)
            cur.execute(f"UPDATE {moved} SET group_id = n.group_id FROM _inc_new n WHERE {moved}.group_id IS NULL AND {on}")
        finally:
            cur.unregister("_inc_new")
        _extend(ev, new, W, Wa)
    moves = cur.execute(f"SELECT old_group, group_id, count(*) AS n FROM {moved} WHERE old_group <> group_id "
                        "GROUP BY ALL").fetchnumpy()
    words = "".join(f" OR k{w} <> ok{w} OR t{w} <> ot{w}" for w in range(W))
    cur.execute(f"""UPDATE {ev.table} SET group_id = r.group_id, opt_source = r.opt_source,
                           {', '.join(f'k{w} = r.k{w}, t{w} = r.t{w}' for w in range(W))}
                    FROM (SELECT * FROM {moved}
                          WHERE old_group <> group_id OR old_opt_source IS DISTINCT FROM opt_source{words}) r
                    WHERE {ev.table}.rowid = r.erid""")
    if len(moves["group_id"]):
        counts = ev.counts.copy()
        k = np.asarray(moves["n"], dtype=np.int64)
        np.subtract.at(counts, np.asarray(moves["old_group"], dtype=np.int64), k)
        np.add.at(counts, np.asarray(moves["group_id"], dtype=np.int64), k)
        ev.counts = counts
        ev._weights = counts.astype(np.float64)
        cur.execute(f"UPDATE {ev.groups_table} SET n = c.n FROM (SELECT unnest(?::INTEGER[]) AS group_id, "
                    f"unnest(?::BIGINT[]) AS n) c WHERE {ev.groups_table}.group_id = c.group_id",
                    [list(range(len(counts))), counts.tolist()])
    return {"contacts": int(n), "domains": domains, "new_groups": added,
            "changed": int(np.asarray(moves["n"]).sum()) if len(moves["group_id"]) else 0}


def _extend(ev: Evaluation, new: dict, W: int, Wa: int) -> None:
    """Append new groups (their keys as the SQL returns them) to the evaluation's arrays, empty."""
    masks = np.stack([mask_words(new[f"m{w}"]) for w in range(W)], axis=1)
    aud = np.stack([mask_words(new[f"a{w}"]) for w in range(Wa)], axis=1)
    ev.opted = np.concatenate([ev.opted, np.asarray(new["opted"], dtype=bool)])
    audience, node_match, busy = split_bits(ev.settings, aud)  # audience, node conditions, busy sequences
    ev.audience = np.concatenate([ev.audience, audience])
    if ev.node_match is not None:
        ev.node_match = np.concatenate([ev.node_match, node_match])
    if ev.busy is not None:
        ev.busy = np.concatenate([ev.busy, busy])
    ev.masks = np.concatenate([ev.masks, masks])
    ev.matches = np.concatenate([ev.matches, _unpack(masks, len(ev.settings.exclusions))])
    ev.counts = np.concatenate([ev.counts, np.zeros(len(masks), dtype=np.int64)])
    ev._weights = ev.counts.astype(np.float64)
