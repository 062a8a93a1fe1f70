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
    Evaluation,
    _eval_lock,
    _forget,
    _relation_sql,
    _unpack,
    busy_sequences,
    group_keys,
    mask_words,
    split_bits,
)
from unify_dash.engine.leafbits import bit_set, n_words, word_columns
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
            for k in ("flips", "optev", "optmap", "cmap", "delta", "rows", "dk", "nown", "dd")}


# --- company-wide exclusions: per-domain counts ---------------------------------------------------------
#
# The pass gives a contact of a domain the company-wide bit of exclusion i when any contact of the domain
# matches i's criteria itself (``bit_or`` over the domain). The advance keeps, per domain, how many
# contacts match each company-wide exclusion's criteria (``dk``: ``n<i>``) and every contact's own bits
# (``cmap``: ``k<w>``): a contact whose own bits flip changes its domain's count, and the domain's other
# contacts move only when a count crosses zero (0 -> 1 or 1 -> 0), not at every flip.


def _company(settings: Settings) -> list[int]:
    """Indexes of the company-wide exclusions."""
    return [i for i, e in enumerate(settings.exclusions) if e.company_wide]


def _own_words_sql(settings: Settings, as_of: dt.datetime) -> tuple[str, list]:
    """``k0, k1, ..`` over :func:`vocabulary.base_from`: a contact's own company-wide criteria bits as of
    ``as_of`` (the pass's criteria words ``c`` restricted to the company-wide exclusions)."""
    bits: list[tuple[int, str]] = []
    params: list = []
    for i in _company(settings):
        sql, p = vocabulary.compile_sql(settings.exclusions[i].criteria, as_of)
        bits.append((i, sql))
        params += p
    return ", ".join(word_columns(bits, n_words(len(settings.exclusions)), "k")), params


def _company_bits_sql(settings: Settings, dk: str) -> str:
    """The pass's ``dom`` relation (``domain, k0..``) from the per-domain counts, for the domains of the
    contacts the restricted pass reads (its ``base``)."""
    bits = [(i, f"n{i} > 0") for i in _company(settings)]
    return (f"SELECT domain, {', '.join(word_columns(bits, n_words(len(settings.exclusions)), 'k'))} "
            f"FROM {dk} WHERE domain IN (SELECT domain FROM base)")


def _prepare(cur: duckdb.DuckDBPyConnection, ev: Evaluation) -> None:
    """Once per evaluation: the flip times still ahead (``flip_at`` = the date + N days: the leaf
    answers differently from then on, see the module docstring), sorted so that a tick reads its
    window only, and a copy of the opt-out and reversal events (few; the scheduler writes none).

    Every contact's positions are kept too (``cmap``: ``crid``, its ``rowid`` in ``contacts``; ``erid``,
    its row in the evaluation's table; ``did``, a number per domain, the map sorted by it), and the
    flips and opt-out events carry them: a tick reads the moved contacts' rows by position, never
    by a scan of a million contact ids (a position that no longer holds its contact is caught, see
    :func:`_recompute`).

    With company-wide exclusions the map also holds every contact's own company-wide bits (``k0..``,
    as of the evaluation) and ``dk`` the per-domain counts (see :func:`_spread`)."""
    names = _names(ev)
    main = f"{db.ident(ev.catalog)}.main"
    company = _company(ev.settings)
    own, own_params = _own_words_sql(ev.settings, ev.as_of) if company else ("", [])
    W = n_words(len(ev.settings.exclusions))
    cur.execute(f"""CREATE OR REPLACE TABLE {names['cmap']} AS
        SELECT c.contact_id, c.email, c.crid, x.erid,
               CASE WHEN c.domain IS NOT NULL THEN dense_rank() OVER (ORDER BY c.domain) END AS did
               {"".join(f", c.domain, {', '.join(f'c.k{w}' for w in range(W))}" if company else "")}
        FROM (SELECT c.rowid AS crid, c.contact_id, c.email, c.domain{", " + own if company else ""}
              FROM {vocabulary.base_from(ev.stats_table) if company else main + ".contacts c"}) c
        JOIN (SELECT rowid AS erid, contact_id FROM {ev.table}) x USING (contact_id)
        ORDER BY did, crid""", own_params)
    if company:
        counts = ", ".join(f"count(*) FILTER (WHERE {bit_set('k', i)}) AS n{i}" for i in company)
        cur.execute(f"CREATE OR REPLACE TABLE {names['dk']} AS SELECT did, any_value(domain) AS domain, {counts} "
                    f"FROM {names['cmap']} WHERE did IS NOT NULL GROUP BY did ORDER BY did")
    cmap = f"(SELECT rowid AS mrid, * FROM {names['cmap']})"
    leaves = _flip_leaves(ev.settings)
    if leaves:
        parts, params = [], []
        for sql, days, company in leaves:
            micros = round(days * 86_400_000_000)
            flip = f"({sql} + to_microseconds(?::BIGINT))"
            parts.append(f"SELECT {flip} AS flip_at, c.contact_id, ?::BOOLEAN AS company "
                         f"FROM {vocabulary.base_from(ev.stats_table)} WHERE {flip} >= ?")
            params += [micros, company, micros, ev.as_of]
        cur.execute(f"CREATE OR REPLACE TABLE {names['flips']} AS SELECT f.flip_at, f.company, m.contact_id, m.crid, "
                    f"m.erid, m.mrid FROM ({' UNION ALL '.join(parts)}) f JOIN {cmap} m USING (contact_id) "
                    "ORDER BY flip_at", params)
    else:
        cur.execute(f"CREATE OR REPLACE TABLE {names['flips']} (flip_at TIMESTAMP, company BOOLEAN, "
                    "contact_id VARCHAR, crid BIGINT, erid BIGINT, mrid BIGINT)")
    cur.execute(f"CREATE OR REPLACE TABLE {names['optev']} AS SELECT e.*, lower(trim(coalesce(e.email, x.email))) "
                f"AS key FROM {main}.events e LEFT JOIN {main}.contacts x ON e.email IS NULL AND "
                f"x.contact_id = e.contact_id WHERE e.type IN {OPT_OUT_TYPES}")
    cur.execute(f"CREATE OR REPLACE TABLE {names['optmap']} AS SELECT o.occurred_at, m.contact_id, m.crid, m.erid, "
                f"m.mrid FROM {names['optev']} o JOIN {cmap} m ON m.email = o.key ORDER BY o.occurred_at")
    ev._memo["incremental"] = names
    weakref.finalize(ev, _forget, ev.instance,
                     (names["flips"], names["optev"], names["optmap"], names["cmap"], names["dk"]))


def moved_sql(ev: Evaluation, since: dt.datetime, t: dt.datetime) -> tuple[str, list]:
    """SELECT contact_id, crid, erid, mrid (positions: :func:`_prepare`) of every contact whose own
    evaluation can differ between ``since`` and ``t`` (same settings, same data): relative-date flips in
    ``[since, t)``, contacts with an opt-out or reversal recorded in ``(since, t]`` and, with one
    active sequence per contact, enrollments written since. (With a company-wide exclusion the other
    contacts of their domains are added by :func:`_spread`, when a domain's count crosses zero.) A
    superset is harmless (those contacts are recomputed, not decided), a missing contact is not: the
    window is widened by a millisecond on both sides."""
    names = _names(ev)
    main = f"{db.ident(ev.catalog)}.main"
    eps = dt.timedelta(milliseconds=1)
    # one active sequence per contact: a contact whose enrollments were written since (>=: a tick evaluates,
    # then writes at its own time) may have become busy or free
    busy = "" if not ev.settings.one_active_sequence else f"""
                           UNION ALL
                           SELECT contact_id, crid, erid, rowid AS mrid FROM {names['cmap']}
                           WHERE contact_id IN (SELECT contact_id FROM {main}.enrollments WHERE updated_at >= ?)"""
    params = [since - eps, t + eps, since, t] + ([since - eps] if busy else [])
    return (f"""SELECT contact_id, min(crid) AS crid, min(erid) AS erid, min(mrid) AS mrid FROM (
                SELECT contact_id, crid, erid, mrid FROM {names['flips']} WHERE flip_at >= ? AND flip_at <= ?
                UNION ALL
                SELECT contact_id, crid, erid, mrid FROM {names['optmap']}
                WHERE occurred_at > ? AND occurred_at <= ?{busy})
        GROUP BY contact_id"""), params


def _spread(cur: duckdb.DuckDBPyConnection, ev: Evaluation, t: dt.datetime, delta: str) -> int:
    """Company-wide exclusions: take the own company-wide bits as of ``t`` of the contacts in ``delta``,
    adjust their domains' counts and add to ``delta`` every contact of a domain where a count crossed
    zero (its company-wide bits changed for all of them). Returns the number of such domains.

    The contacts are read by position, by id when a position no longer holds its contact (as
    :func:`_recompute` does); a failure leaves the counts to be taken again (:func:`_prepare`)."""
    names = _names(ev)
    main = f"{db.ident(ev.catalog)}.main"
    company = _company(ev.settings)
    W = n_words(len(ev.settings.exclusions))
    own, params = _own_words_sql(ev.settings, t)
    n = cur.execute(f"SELECT count(*) FROM {delta}").fetchall()[0][0]
    for by_key in (False, True):
        pick = f"contact_id IN (SELECT contact_id FROM {delta})" if by_key else f"rowid IN (SELECT crid FROM {delta})"
        cur.execute(f"""CREATE OR REPLACE TABLE {names['nown']} AS
            SELECT m.mrid, m.did, {', '.join(f'm.k{w} AS o{w}, n.k{w}' for w in range(W))}
            FROM (WITH contacts AS (SELECT * FROM {main}.contacts WHERE {pick})
                  SELECT c.contact_id, {own} FROM {vocabulary.base_from(ev.stats_table)}) n
            JOIN (SELECT rowid AS mrid, contact_id, did, {', '.join(f'k{w}' for w in range(W))} FROM {names['cmap']}
                  WHERE rowid IN (SELECT mrid FROM {delta})) m USING (contact_id)""", params)
        changed = " OR ".join(f"o{w} <> k{w}" for w in range(W))
        found, moved = cur.execute(f"SELECT count(*), count(*) FILTER (WHERE {changed}) "
                                   f"FROM {names['nown']}").fetchall()[0]
        if found == n:
            break
    else:
        raise RuntimeError("the moved contacts' rows were not found")
    if not moved:
        return 0
    diff = ", ".join(f"sum(({bit_set('k', i)})::INTEGER - ({bit_set('o', i)})::INTEGER) AS d{i}" for i in company)
    crossed = " OR ".join(f"((k.n{i} = 0) <> (k.n{i} + x.d{i} = 0))" for i in company)
    # the domains' count changes, and whether a count crosses zero (read before the counts are updated)
    cur.execute(f"CREATE OR REPLACE TABLE {names['dd']} AS SELECT x.*, ({crossed}) AS crossed "
                f"FROM (SELECT did, {diff} FROM {names['nown']} WHERE did IS NOT NULL AND ({changed}) GROUP BY did) x "
                f"JOIN {names['dk']} k USING (did)")
    domains = cur.execute(f"SELECT count(*) FILTER (WHERE crossed) FROM {names['dd']}").fetchall()[0][0]
    if domains:
        cur.execute(f"""CREATE OR REPLACE TABLE {delta} AS
            SELECT contact_id, min(crid) AS crid, min(erid) AS erid, min(mrid) AS mrid FROM (
                SELECT contact_id, crid, erid, mrid FROM {delta}
                UNION ALL
                SELECT contact_id, crid, erid, rowid AS mrid FROM {names['cmap']}
                WHERE did IN (SELECT did FROM {names['dd']} WHERE crossed))
            GROUP BY contact_id""")
    cur.execute(f"UPDATE {names['dk']} SET {', '.join(f'n{i} = n{i} + x.d{i}' for i in company)} "
                f"FROM {names['dd']} x WHERE {names['dk']}.did = x.did")
    cur.execute(f"UPDATE {names['cmap']} SET {', '.join(f'k{w} = x.k{w}' for w in range(W))} "
                f"FROM {names['nown']} x WHERE {names['cmap']}.rowid = x.mrid AND ({' OR '.join(f'x.o{w} <> x.k{w}' for w in range(W))})")
    return int(domains)


def _restricted_ctes(ev: Evaluation, delta: str, *, by_key: bool = False) -> str:
    """Bind ``contacts`` and ``events`` to the rows of the contacts in ``delta`` (whole domains), so the
    compiled pass and the opt-out relation read those rows only: by position (``by_key``: by id)."""
    names = _names(ev)
    main = f"{db.ident(ev.catalog)}.main"
    pick = "contact_id IN (SELECT contact_id FROM {d})" if by_key else "rowid IN (SELECT crid FROM {d})"
    # one active sequence: the busy bits read the moved contacts' queued and active enrollments only
    busy = (f", enrollments AS (SELECT * FROM {main}.enrollments WHERE state IN {states.ACTIVE_SQL} "
            f"AND contact_id IN (SELECT contact_id FROM {delta}))") if busy_sequences(ev.settings) else ""
    return (f"WITH contacts AS (SELECT * FROM {main}.contacts WHERE {pick.format(d=delta)}), "
            f"events AS (SELECT * EXCLUDE (key) FROM {names['optev']} WHERE key IN (SELECT email FROM contacts))"
            f"{busy}")


def advance(con: duckdb.DuckDBPyConnection, ev: Evaluation, t: dt.datetime) -> dict:
    """Move ``ev`` (same settings, same data) to as of ``t`` in place; returns ``{"contacts": recomputed,
    "changed": contacts whose group changed, "new_groups": n, "domains": company domains recomputed
    whole, "seconds": s}``.

    The caller guarantees that nothing but time moved since ``ev.as_of`` (the data generation and the
    settings version are those of ``ev``; the scheduler checks both)."""
    started = time.perf_counter()
    if t < ev.as_of:
        raise ValueError("an evaluation only moves forward in time")
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
            sql, params = moved_sql(ev, ev.as_of, t)
            cur.execute(f"CREATE OR REPLACE TABLE {delta} AS {sql}", params)
            n = cur.execute(f"SELECT count(*) FROM {delta}").fetchall()[0][0]
            if n and _company(ev.settings):
                stats["domains"] = _spread(cur, ev, t, delta)
                n = cur.execute(f"SELECT count(*) FROM {delta}").fetchall()[0][0]
            stats["contacts"] = int(n)
            if n:
                stats.update(_recompute(cur, ev, t, delta, rows))
        except BaseException:
            ev._memo.pop("incremental", None)  # the kept positions and counts are taken again next time
            raise
        finally:
            for table in (delta, rows, names["nown"], names["dd"]):
                cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.close()
    ev.as_of = t
    ev._memo = {k: v for k, v in ev._memo.items() if k in ("levels", "visible_on", "since", "incremental")}
    return {**stats, "seconds": round(time.perf_counter() - started, 4)}


def _recompute(cur: duckdb.DuckDBPyConnection, ev: Evaluation, t: dt.datetime, delta: str, rows: str) -> dict:
    """Re-evaluate the contacts of ``delta`` as of ``t``, move them between groups, add new groups."""
    company = _company_bits_sql(ev.settings, _names(ev)["dk"]) if _company(ev.settings) else None
    sql, params, W, Wa = _relation_sql(ev.settings, t, ev.stats_table, company_from=company)
    keys = group_keys(W, Wa)
    body = sql.strip().removeprefix("WITH ")
    n = cur.execute(f"SELECT count(*) FROM {delta}").fetchall()[0][0]
    for by_key in (False, True):
        # the same compiled pass, over the moved contacts' rows only (found by position; their rows of
        # the evaluation's table too)
        cur.execute(f"CREATE OR REPLACE TABLE {rows} AS SELECT r.*, x.erid, x.group_id AS old_group, "
                    "x.opt_source AS old_opt_source, g.group_id "
                    f"FROM ({_restricted_ctes(ev, delta, by_key=by_key)}, {body}) r "
                    f"JOIN (SELECT rowid AS erid, contact_id, group_id, opt_source FROM {ev.table} "
                    f"WHERE rowid IN (SELECT erid FROM {delta})) x USING (contact_id) "
                    f"LEFT JOIN {ev.groups_table} g USING ({', '.join(keys)})", params)
        if cur.execute(f"SELECT count(*) FROM {rows}").fetchall()[0][0] == n:
            break
        # a contact's position moved (contacts rewritten since the evaluation): by id this time, and the
        # positions are taken again at the next tick
        ev._memo.pop("incremental", None)
    else:
        raise RuntimeError("the moved contacts' rows of the evaluation were not found")
    new = cur.execute(f"SELECT {', '.join(keys)}, count(*) AS n FROM {rows} WHERE group_id IS NULL "
                      f"GROUP BY ALL ORDER BY ALL").fetchnumpy()
    G = len(ev.counts)
    added = len(new["opted"])
    if added:
        cur.register("_inc_new", {**{k: new[k] for k in keys}, "n": np.zeros(added, dtype=np.int64),
                                  "group_id": np.arange(G, G + added, dtype=np.int32)})
        try:
            cur.execute(f"INSERT INTO {ev.groups_table} BY NAME SELECT * FROM _inc_new")
            on = " AND ".join(f"{rows}.{k} = n.{k}" for k in keys)
            cur.execute(f"UPDATE {rows} SET group_id = n.group_id FROM _inc_new n WHERE {rows}.group_id IS NULL AND {on}")
        finally:
            cur.unregister("_inc_new")
        _extend(ev, new, W, Wa)
    moves = cur.execute(f"SELECT old_group, group_id, count(*) AS n FROM {rows} WHERE old_group <> group_id "
                        "GROUP BY ALL").fetchnumpy()
    cur.execute(f"""UPDATE {ev.table} SET group_id = r.group_id, opt_source = r.opt_source
                    FROM (SELECT erid, group_id, opt_source FROM {rows}
                          WHERE old_group <> group_id OR old_opt_source IS DISTINCT FROM opt_source) r
                    WHERE {ev.table}.rowid = r.erid""")
    if len(moves["group_id"]):
        counts = ev.counts.copy()
        n = np.asarray(moves["n"], dtype=np.int64)
        np.subtract.at(counts, np.asarray(moves["old_group"], dtype=np.int64), n)
        np.add.at(counts, np.asarray(moves["group_id"], dtype=np.int64), n)
        ev.counts = counts
        ev._weights = counts.astype(np.float64)
        cur.execute(f"UPDATE {ev.groups_table} SET n = c.n FROM (SELECT unnest(?::INTEGER[]) AS group_id, "
                    f"unnest(?::BIGINT[]) AS n) c WHERE {ev.groups_table}.group_id = c.group_id",
                    [list(range(len(counts))), counts.tolist()])
    return {"changed": int(np.asarray(moves["n"]).sum()) if len(moves["group_id"]) else 0,
            "new_groups": added}


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
