"""One contact's Exclusion tab (:func:`explain`): point queries next to the evaluation."""

from __future__ import annotations

import collections
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from unify_dash.actions import optouts
from unify_dash.engine import leafbits
from unify_dash.engine.decisions import _opted_decision_text, _pair_decisions, _sequence_levels
from unify_dash.engine.evaluator import (
    Evaluation,
    _as_of,
    _check_visible,
    _iso,
    _relation_sql,
    _unpack,
    evaluation,
    mask_words,
    split_bits,
)
from unify_dash.engine.funnel import _funnel, _saved_levels
from unify_dash.engine.impact import _blockers, _opt_out_text
from unify_dash.errors import NotFound
from unify_dash.model import evidence as ev_text
from unify_dash.model import settings as settings_mod
from unify_dash.model import vocabulary as vocab
from unify_dash.model.levels import Levels
from unify_dash.model.settings import Settings
from unify_dash.store import db

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


def _single(settings: Settings, version: int | None, as_of: dt.datetime, row: dict, W: int, Wa: int,
            template: Evaluation) -> Evaluation:
    """A one-contact evaluation (one group) so that the funnel code answers for it too."""
    masks = mask_words([[row[f"m{w}"] for w in range(W)]])
    aud = mask_words([[row[f"a{w}"] for w in range(Wa)]])
    audience, node_match, busy = split_bits(settings, aud)
    return Evaluation(settings=settings, version=version, as_of=as_of, generation=template.generation,
                      instance=template.instance, table=template.table, stats_table=template.stats_table,
                      groups_table=template.groups_table, opted=np.array([bool(row["opted"])]),
                      audience=audience, masks=masks,
                      matches=_unpack(masks, len(settings.exclusions)), counts=np.array([1], dtype=np.int64),
                      seconds=0.0, catalog=template.catalog, node_match=node_match, busy=busy)


def _answer(ev: Evaluation, g: int) -> dict:
    """What happens to the contacts of group g: per sequence and per Play node, with the blockers."""
    levels = _saved_levels(ev)
    seqs, seq_on = _sequence_levels(ev, levels)
    out = {"opted_out": bool(ev.opted[g]), "sequences": {}, "plays": {}}
    row = ev.matches[g]
    for k, sid in enumerate(seqs):
        out["sequences"][sid] = [ev.exclusion_ids[i] for i in np.flatnonzero(row & seq_on[k])]
    funnels = ev._memo.setdefault("saved_funnels", {})  # per evaluation: its saved levels never change
    for pid in ev.play_ids:
        f = funnels.get(pid)
        if f is None:
            f = funnels[pid] = _funnel(ev, pid, levels)
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
            elif not f.route[g, k]:  # Play branching: it goes to another node (or none)
                nodes[nd.id] = "not_routed"
            else:
                nodes[nd.id] = "not_enrolled" if f.node_blocked[g, k] or f.busy_blocked[g, k] else "enrolled"
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


def _has_members(ev: Evaluation, main: str) -> bool:
    """Whether any contact is associated with company records outside its domain (asked once per
    evaluation by :func:`explain`: associations are data, and every load bumps the generation)."""
    return ev._memo.get("has_members", True)


def _point_ctes(ev: Evaluation, contacts_where: str, params: list, domain: str | None) -> tuple[str, list]:
    """WITH clauses that bind ``contacts``, ``company_records`` and the domain aggregates ``d_point`` to
    the rows of a few contacts of one domain, so that the compiled criteria (which read those names)
    evaluate a few contacts without scanning a million. Exact for contacts of ``domain``: record fields
    only read the records of the contact's own domain."""
    main = f"{db.ident(ev.catalog)}.main"
    if not _has_members(ev, main):  # no association outside a domain: the domain's rows are all there is
        return (f"WITH contacts AS (SELECT * FROM {main}.contacts WHERE {contacts_where}), "
                f"company_records AS (SELECT * FROM {main}.company_records WHERE domain = ?), "
                f"d_point AS (SELECT * FROM {ev.stats_table} WHERE domain = ?)"), [*params, domain, domain]
    # with the records (and aggregates) of the company keys of those contacts: their associations
    keys = "SELECT company_key FROM contacts WHERE company_key IS NOT NULL"
    return (f"WITH contacts AS (SELECT * FROM {main}.contacts WHERE {contacts_where}), "
            f"company_records AS (SELECT * FROM {main}.company_records WHERE domain = ? OR record_id IN "
            f"(SELECT record_id FROM {main}.company_members WHERE company_key IN ({keys}))), "
            f"d_point AS (SELECT * FROM {ev.stats_table} WHERE domain = ? OR domain IN ({keys}))"), \
        [*params, domain, domain]


@dataclass
class _Leaves:
    """Every leaf of every criterion and filter: the bit of the pages' evaluation that holds its result
    (:func:`leafbits.plan`, the pass's own ``leaf_sql``) and the SQL of its field's value (each field once:
    contact fields over ``c``, company fields over ``d``). ``index`` rows: (exclusion, part, path, leaf,
    bit, field name or None for a record field)."""

    index: list[tuple]
    contact_values: dict[str, str]  # field name -> its SQL over ``c``
    company_values: dict[str, str]  # field name -> its SQL over ``d``
    words: int


def _leaf_plan(s: Settings, as_of: dt.datetime) -> _Leaves:
    lp = leafbits.plan(s, as_of)
    values: dict[str, dict[str, str]] = {"contact": {}, "company": {}}
    index = []
    for i, part, path, leaf, b in lp.index:
        fld = vocab.FIELDS[leaf["field"]]
        if fld.entity != "record":
            values[fld.entity].setdefault(fld.name, fld.sql)
        index.append((i, part, path, leaf, b, fld.name if fld.entity != "record" else None))
    return _Leaves(index, values["contact"], values["company"], lp.words)


def _plan_of(ev: Evaluation) -> _Leaves:
    """The leaf plan of the evaluation (per evaluation: the bits were computed as of ``ev.as_of``)."""
    plan = ev._memo.get("leaf_plan")
    if plan is None:
        plan = ev._memo["leaf_plan"] = _leaf_plan(ev.settings, ev.as_of)
    return plan


@dataclass
class _Row:
    """One contact as the tab reads it: its row, group, opt-out source, leaf bits and field values."""

    contact: dict
    g: int
    opt_source: str | None
    bits: tuple
    values: dict
    records: int  # company records of its company (domain or company key)
    firsts: dict  # company-wide exclusion -> (first matching email, count) in its domain

    def leaves(self, plan: _Leaves) -> dict:
        """exclusion -> part -> path -> (result, value)."""
        out = collections.defaultdict(lambda: collections.defaultdict(dict))
        for i, part, path, _leaf, b, name in plan.index:
            out[i][part][path] = (leafbits.bit_of(self.bits, b), None if name is None else self.values[name])
        return out


def _read(con: duckdb.DuckDBPyConnection, ev: Evaluation, key: str, memo: dict,
          around: _Around | None = None) -> _Row | None:
    """Two point lookups: the contact's row with its evaluated bits and its contact fields' values (the
    contact by its email key, the evaluation table by email: stored in email order, so one row group is
    read), then its company's row (:func:`_company_row`; ``memo`` keeps it for the other contacts of the
    same company in one explain). With ``around``, the company's row also brings the records, links and
    enrollments of the contact (filled into ``around``), in the same statement."""
    plan = _plan_of(ev)
    main = f"{db.ident(ev.catalog)}.main"
    bits = "".join(f", x.l{w}" for w in range(plan.words))
    names = list(plan.contact_values)
    cur = con.execute(f"SELECT {''.join(f'{plan.contact_values[x]}, ' for x in names)}x.group_id, x.opt_source"
                      f"{bits}, c.* FROM {main}.contacts c, {ev.table} x WHERE c.email = ? AND x.email = ?",
                      [key, key])
    found = cur.fetchone()
    if found is None:
        return None
    n, W = len(names), plan.words
    contact = dict(zip([d[0] for d in cur.description[n + 2 + W:]], found[n + 2 + W:], strict=True))
    ck = (contact.get("company_key") or contact["domain"], contact["domain"])
    if around is not None:
        memo[ck] = _around_company(con, ev, plan, ck, around, contact)
    elif ck not in memo:
        memo[ck] = _company_row(con, ev, plan, *ck)
    company = memo[ck]
    return _Row(contact, int(found[n]), found[n + 1], tuple(found[n + 2:n + 2 + W]),
                {**dict(zip(names, found[:n], strict=True)), **company["values"]}, company["records"],
                company["firsts"])


_COMPANY_ROWS = 1024  # company rows (with their records) an evaluation keeps for the next explains


def _around_company(con: duckdb.DuckDBPyConnection, ev: Evaluation, plan: _Leaves, ck: tuple, around: _Around,
                    contact: dict) -> dict:
    """The company's row with the contact's records, links and enrollments (:class:`_Around`). The company's
    part (its row, its domain's records with their leaf results and opportunities) is the same for every
    contact of the company: the evaluation keeps it (per company and as-of time; every change of the data
    is a new evaluation), so the next contact of the company reads only its own links and enrollments."""
    kept = ev._memo.setdefault("company_rows", {})
    key = (ck, around.as_of)
    around.kept = kept.get(key)
    if around.kept is not None:
        around.bind(con, ev, contact, company=False)
        around.take((around.kept[1], *con.execute(f"SELECT {', '.join(around.sql)}", around.params).fetchone()))
        return around.kept[0]
    company = _company_row(con, ev, plan, *ck, around=around.bind(con, ev, contact))
    if len(kept) >= _COMPANY_ROWS:  # bounded (a clear, not an eviction order: explains may run in threads)
        kept.clear()
    around.kept = kept[key] = [company, around.records, None]  # opportunities: by _company_records
    return company


_RECORD_NAMES = ("record_id", "crm", "crm_id", "name", "website", "domain", "is_customer", "industry", "employees",
                 "num")
_OPP_NAMES = ("opportunity_id", "crm", "crm_id", "name", "stage", "is_closed", "is_won", "amount", "created_at")
_ENROLLMENT_NAMES = ("enrollment_id", "play_id", "node_id", "sequence_id", "state", "completion_reason",
                     "current_step", "next_step_at", "enrolled_at", "updated_at")


@dataclass
class _Around:
    """What the tab reads around the contact besides its company's row: the company records of its domain
    (with the result of every record-field leaf on each), its links to records and its enrollments. Each
    is a scalar subquery of the company row's statement, by an index (records by domain, links and
    enrollments by contact id); ``None`` until read, ``records`` None when the tab shows no record."""

    plan: _Leaves
    as_of: dt.datetime
    records: list | None = None
    kept: list | None = None  # [company row, records, their opportunities] kept by the evaluation
    links: dict = field(default_factory=dict)
    enrollments: list = field(default_factory=list)
    sql: list = field(default_factory=list)  # the subqueries, as bound by :meth:`bind`
    params: list = field(default_factory=list)

    def record_select(self) -> tuple[str, list, list]:
        """(the SELECT list of a record ``r``, its parameters, the record-field leaves it answers)."""
        rec_leaves = [(i, part, path, leaf) for (i, part, path, leaf, _b, _name) in self.plan.index
                      if vocab.FIELDS[leaf["field"]].entity == "record"]
        cols, params = [], []
        for _i, _part, _path, leaf in rec_leaves:
            sql, p = vocab.record_match_sql(leaf, self.as_of)
            cols.append(sql)
            params.extend(p)
        columns = [f"r.{x}" for x in _RECORD_NAMES[:-1]] + ["0 AS num"]  # num: numbered by the caller
        return ", ".join(columns + cols), params, rec_leaves

    def bind(self, con: duckdb.DuckDBPyConnection, ev: Evaluation, contact: dict, company: bool = True) -> _Around:
        """The subqueries of the contact (records and their opportunities unless ``company`` is False: kept
        from another contact of the company, :func:`_around_company`), links and enrollments."""
        used = {vocab.FIELDS[x[3]["field"]] for x in self.plan.index}
        if company and contact["domain"] and any(f.entity in ("company", "record") for f in used):
            cols, params, rec_leaves = self.record_select()
            n = len(_RECORD_NAMES) + len(rec_leaves)
            fields = ", ".join(f"k{k} := k{k}" for k in range(n))
            self.sql.append(f"(SELECT list(struct_pack({fields})) FROM (SELECT {cols} FROM company_records r "
                            "WHERE r.domain = ?) AS t(" + ", ".join(f"k{k}" for k in range(n)) + "))")
            self.params += [*params, contact["domain"]]
        elif company:
            self.sql.append("NULL")
        if _has_links(con, ev):
            self.sql.append("(SELECT list(struct_pack(r := record_id, l := link)) FROM contact_records "
                            "WHERE contact_id = ?)")
            self.params.append(contact["contact_id"])
        else:
            self.sql.append("NULL")
        self.sql.append(f"(SELECT list(struct_pack({', '.join(f'{x} := {x}' for x in _ENROLLMENT_NAMES)}) "
                        "ORDER BY enrolled_at NULLS LAST, enrollment_id) FROM enrollments WHERE contact_id = ?)")
        self.params.append(contact["contact_id"])
        return self

    def take(self, values: tuple) -> None:
        recs, links, enrollments = values
        self.records = None if recs is None else [r if isinstance(r, tuple) else tuple(r.values()) for r in recs]
        self.links = {x["r"]: x["l"] for x in links or []}
        self.enrollments = [dict(x) for x in enrollments or []]


def _company_row(con: duckdb.DuckDBPyConnection, ev: Evaluation, plan: _Leaves, stats_key: str | None,
                 domain: str | None, around: _Around | None = None) -> dict:
    """One row for a contact's company: its company fields' values over its aggregates (``stats_key``: the
    company key or domain), how many company records it has, and the domain's first matching contact of
    every company-wide exclusion (kept by the evaluation, :func:`leafbits.company_sql`; both tables have an
    index on domain); with ``around``, the contact's records, links and enrollments too."""
    names = list(plan.company_values)
    first = ", f.*" if ev.company_table else ""
    join = f" LEFT JOIN (SELECT * FROM {ev.company_table} WHERE domain = ?) f ON TRUE" if ev.company_table else ""
    extra = "".join(f", {x}" for x in around.sql) if around is not None else ""
    cur = con.execute(
        f"SELECT {''.join(f'{plan.company_values[x]}, ' for x in names)}coalesce(d.company_records, 0){extra}{first} "
        f"FROM (SELECT 1) LEFT JOIN (SELECT * FROM {ev.stats_table} WHERE domain = ?) d ON TRUE{join}",
        (around.params if around is not None else []) + [stats_key] + ([domain] if ev.company_table else []))
    got = cur.fetchone()
    n = len(names)
    a = len(around.sql) if around is not None else 0
    if around is not None:
        around.take(got[n + 1:n + 1 + a])
    return {"values": dict(zip(names, got[:n], strict=True)), "records": int(got[n] or 0),
            "firsts": leafbits.firsts([d[0] for d in cur.description[n + 1 + a:]], got[n + 1 + a:])}


@dataclass
class _Point:
    """One contact being explained, and what the steps of :func:`explain` found out about it."""

    ev: Evaluation
    key: str
    as_of: dt.datetime
    contact: dict
    g: int
    opt_source: str | None
    plan: _Leaves
    records_count: int
    firsts: dict  # company-wide exclusion -> (first matching email, count) in the domain
    memo: dict  # company rows read by this explain (:func:`_read`)
    own: dict = field(default_factory=dict)  # exclusion -> part -> path -> (result, value)
    matchers: dict = field(default_factory=dict)  # exclusion -> the domain's first matching contact
    records: list = field(default_factory=list)
    opps: list = field(default_factory=list)
    record_hits: dict = field(default_factory=dict)  # (exclusion, part) -> path -> [hit per record]
    around: _Around | None = None  # the contact's records, links and enrollments (:func:`_read`)

    @property
    def settings(self) -> Settings:
        return self.ev.settings

    @property
    def domain(self) -> str | None:
        return self.contact["domain"]

    def own_match(self, i: int) -> bool:
        vals = {p: v[0] for p, v in self.own[i]["criteria"].items()}
        return vocab.evaluate_tree(self.settings.exclusions[i].criteria, vals) if vals else False

    def filters_hold(self, i: int) -> list[bool]:
        return [vocab.evaluate_tree(f, {p: v[0] for p, v in self.own[i][f"filters[{j}]"].items()})
                for j, f in enumerate(self.settings.exclusions[i].filters)]

    def described(self, i: int, person_vals: dict, part: str, cond: dict) -> tuple[list[dict], list[str]]:
        """The leaves of ``cond`` with their results, values and evidence, and the evidence of the leaves
        that make it come out as it does."""
        vals = {p: v[0] for p, v in person_vals.get(part, {}).items()}
        leaves_out, evidence = [], []
        contributing = set(_contributing(cond, vals)) if vals else set()
        for path, leaf in vocab.leaves(cond):
            result, value = person_vals.get(part, {}).get(path, (False, None))
            fld = vocab.FIELDS[leaf["field"]]
            lines = fld.evidence.lines(ev_text.Facts(
                fld.label, value, result, self.records, self.opps,
                self.record_hits.get((i, part), {}).get(path), vocab.OPERATORS[leaf["op"]].negative))
            leaves_out.append({"path": path, "condition": vocab.describe(leaf), "result": result,
                               "value": _jsonable(value), "evidence": lines})
            if path in contributing:
                evidence.extend(lines)
        return leaves_out, evidence


def _locate(con: duckdb.DuckDBPyConnection, ev: Evaluation, email: str, as_of: dt.datetime) -> _Point:
    """The contact, its group and the result and value of every leaf for it (read, not evaluated again)."""
    key = (email or "").strip().lower()
    memo: dict = {}
    plan = _plan_of(ev)
    around = _Around(plan, as_of)
    row = _read(con, ev, key, memo, around)
    if row is None:
        raise NotFound(f"unknown email {email!r}: no contact has this address")
    pt = _Point(ev, key, as_of, row.contact, row.g, row.opt_source, plan, row.records, row.firsts, memo,
                around=around)
    pt.own = row.leaves(plan)
    return pt


def _company_matchers(con: duckdb.DuckDBPyConnection, pt: _Point) -> None:
    """Company-wide exclusions that apply (or would, but for a filter) through another contact of the
    domain: per exclusion, the first matching contact (by email) and how many match (kept per domain by
    the evaluation: one row, whatever the domain's size), and that contact's leaf values (read like the
    contact's own)."""
    s, ev, g = pt.settings, pt.ev, pt.g
    company_ix = [i for i, e in enumerate(s.exclusions)
                  if e.company_wide and not pt.own_match(i) and (ev.matches[g, i] or not all(pt.filters_hold(i)))]
    if not company_ix or pt.domain is None:
        return
    rows: dict[str, _Row | None] = {}
    for i in company_ix:
        first, count = pt.firsts.get(i, (None, 0))
        values = {}
        if first is not None:
            if first not in rows:
                rows[first] = _read(con, ev, first, pt.memo)
            if rows[first] is not None:
                values = dict(rows[first].leaves(pt.plan)[i]["criteria"])
        pt.matchers[i] = {"first": first, "count": count, "leaves": {"criteria": values}}


def _company_records(con: duckdb.DuckDBPyConnection, pt: _Point) -> None:
    """The company records of the domain (numbered #1, #2 by crm, crm_id) with their opportunities, and
    for every record-field leaf which records satisfy it (the records of the domain and the contact's links
    were read with its company's row, :class:`_Around`)."""
    used = {vocab.FIELDS[x[3]["field"]] for x in pt.plan.index}
    if not pt.records_count or not any(f.entity in ("company", "record") for f in used):
        return
    select, params, rec_leaves = pt.around.record_select()
    # the records of the domain and those the contact is associated with (with the link that made it one),
    # each set by an index (domain, record id): none of these reads grows with the tables
    rows = list(pt.around.records or [])
    links = pt.around.links
    have = {r[0] for r in rows}
    away = [rid for rid in links if rid not in have]
    if away:
        rows += con.execute(f"SELECT {select} FROM company_records r WHERE r.record_id IN ({', '.join('?' * len(away))})",
                            [*params, *away]).fetchall()
    if not rows:
        return
    rows.sort(key=lambda r: (r[5] != pt.domain, *((v is None, v or "") for v in (r[1], r[2], r[0]))))
    nr = len(_RECORD_NAMES)
    for r in rows:
        in_domain = pt.domain is not None and r[5] == pt.domain
        pt.records.append({**dict(zip(_RECORD_NAMES, r[:nr], strict=True)), "num": len(pt.records) + 1,
                           "link": None if in_domain else links.get(r[0])})
        for n_, (i, part, path, _leaf) in enumerate(rec_leaves):
            pt.record_hits.setdefault((i, part), {}).setdefault(path, []).append(bool(r[nr + n_]))
    kept = pt.around.kept  # the company's, kept by the evaluation (:func:`_around_company`)
    # the opportunities of the records by record id (of the associated ones only when the domain's are kept)
    ids = [r[0] for r in rows if kept is None or kept[2] is None or r[0] not in have]
    opps = [] if kept is None or kept[2] is None else list(kept[2])
    if ids:
        got = con.execute(f"SELECT {', '.join(f'o.{x}' for x in _OPP_NAMES)}, o.record_id FROM opportunities o "
                          f"WHERE o.record_id IN ({', '.join('?' * len(ids))})", ids).fetchall()
        if kept is not None and kept[2] is None:
            kept[2] = [o for o in got if o[-1] in have]
        opps += got
    for o in opps:
        pt.opps.append({**dict(zip(_OPP_NAMES, o[:-1], strict=True)), "record_id": o[-1]})
    pt.opps.sort(key=lambda o: tuple((v is None, v or "") for v in (o["crm"], o["crm_id"], o["opportunity_id"])))


def _has_links(con: duckdb.DuckDBPyConnection, ev: Evaluation) -> bool:
    """Whether any contact is associated with a company record (asked once per evaluation: associations
    are data, and every load bumps the generation)."""
    if "has_links" not in ev._memo:
        ev._memo["has_links"] = bool(con.execute(
            "SELECT count(*) FROM (SELECT 1 FROM contact_records LIMIT 1)").fetchall()[0][0])
    return ev._memo["has_links"]


def _since(con: duckdb.DuckDBPyConnection, ev: Evaluation) -> dict:
    """exclusion id -> when its newest saved change in effect took effect (per evaluation)."""
    since = ev._memo.get("since")
    if since is None:
        since = ev._memo["since"] = dict(con.execute(
            "SELECT object_id, max(effective_at) FROM settings_changes WHERE object_type = 'exclusion' "
            "AND version <= ? GROUP BY object_id", [ev.version or 0]).fetchall())
    return since


def _company_match(pt: _Point, i: int, own_match: bool) -> tuple[dict | None, str | None, list[str] | None]:
    """For a company-wide exclusion: who of the domain matched (company dict), ``matched_by``, and the
    matching contact's evidence when it is not this contact (None: keep this contact's own)."""
    e = pt.settings.exclusions[i]
    matched_by = "contact" if own_match else None
    if not (e.company_wide and pt.domain is not None):
        return None, matched_by, None
    m = pt.matchers.get(i)
    if m is None and own_match:
        m = {"first": pt.key, "count": None}
    if not (m and m["first"]):
        return None, matched_by, None
    evidence = None
    if not own_match:
        matched_by = "company"
        _l, lines = pt.described(i, m["leaves"], "criteria", e.criteria)
        evidence = [f"{m['first']}: {line}" for line in lines]
    text = (f"company-wide: {m['first']} matched" if m["first"] != pt.key
            else f"company-wide: this contact matched (every contact of {pt.domain} is excluded)")
    return {"matched_by": m["first"], "contacts_matching": m["count"], "text": text}, matched_by, evidence


def _let_through(pt: _Point, e, blocked_seqs: list, blocked_aud: list) -> list[str]:
    """What would let the contact through one exclusion that blocks it, level by level."""
    s = pt.settings
    out = []
    if blocked_seqs:
        out.append(f"turn '{e.name}' off at the organisation level (Exclude from Sequences): "
                   "unblocks it in every sequence")
        for rs_id in sorted({sq.ruleset for sq in blocked_seqs}):
            rs = s.ruleset(rs_id)
            out.append(f"turn '{e.name}' off in ruleset {rs.name} (sequences "
                       + ", ".join(x.name for x in s.sequences if x.ruleset == rs_id) + ")")
    for p in blocked_aud:
        out.append(f"turn '{e.name}' off at the audience of play {p.name}")
    out.append(f"add the filter Email is not {pt.key} to '{e.name}' (takes effect after "
               f"{s.propagation_minutes} minutes)")
    return out


def _exclusion_entry(pt: _Point, i: int, levels: Levels, since: dict, opted: bool) -> dict:
    """One exclusion on the contact's Exclusion tab."""
    s, ev, g = pt.settings, pt.ev, pt.g
    e = s.exclusions[i]
    applies = bool(ev.matches[g, i])
    crit_leaves, crit_evidence = pt.described(i, pt.own[i], "criteria", e.criteria)
    own_match = pt.own_match(i)
    let_through_by = [vocab.describe(f) for f, ok in zip(e.filters, pt.filters_hold(i), strict=True) if not ok]
    company, matched_by, company_evidence = _company_match(pt, i, own_match)
    if company_evidence is not None:
        crit_evidence = company_evidence
    matches = own_match or matched_by == "company"
    blocked_seqs = [sq for sq in s.sequences if applies and levels.node(sq.ruleset)[i]]
    blocked_aud = [p for p in s.plays if applies and levels.audiences[p.id][i]
                   and ev.audience[g, ev._play_index[p.id]]]
    let_through = _let_through(pt, e, blocked_seqs, blocked_aud) if applies and (blocked_seqs or blocked_aud) else []
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
    return {
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
    }


def _sequence_entries(s: Settings, answer: dict, opted: bool) -> list[dict]:
    out = []
    for sq in s.sequences:
        blockers = answer["sequences"][sq.id]
        rs = s.ruleset(sq.ruleset)
        out.append({
            "id": sq.id, "name": sq.name, "ruleset_id": rs.id, "ruleset_name": rs.name,
            "blocked": opted or bool(blockers), "opted_out": opted,
            "blocking": [{"exclusion_id": x, "name": s.exclusion(x).name,
                          "text": f"{s.exclusion(x).name} (org on + ruleset {rs.name} on)"} for x in blockers],
        })
    return out


def _enrollment_entries(pt: _Point, levels: Levels) -> list[dict]:
    """The contact's enrollments and what happens at their next send."""
    erows = pt.around.enrollments  # read with its company's row (:class:`_Around`)
    if not erows:
        return []
    ev = pt.ev
    seqs_on = dict(zip([sq.id for sq in ev.settings.sequences], _sequence_levels(ev, levels)[1], strict=True))
    out = []
    for r in erows:
        code = {"queued": 1, "active": 2}.get(r["state"], 0)
        known = r["sequence_id"] in seqs_on
        table, _bl, opted_ = _pair_decisions(ev, pt.g, r["sequence_id"] if known else None,
                                             seqs_on.get(r["sequence_id"]))
        decision, reason, text = table[code] if code else ("none", None, None)
        if code and opted_:
            text = _opted_decision_text(code, pt.opt_source)
        if not code:
            text = f"{r['state']}" + (f" ({r['completion_reason']})" if r["completion_reason"] else "")
        elif decision == "send":
            text = "next step will be sent"
        out.append({**{k: _jsonable(v) for k, v in r.items()}, "decision": decision, "reason": reason, "text": text})
    return out


def _pending_entries(con: duckdb.DuckDBPyConnection, pt: _Point, answer: dict) -> list[dict]:
    """Pending settings versions and how each would change the answer for this contact."""
    ev = pt.ev
    last_effective = ev._memo.get("last_effective", ())
    if last_effective == ():  # per evaluation (a saved version bumps the data generation)
        last_effective = ev._memo["last_effective"] = con.execute(
            "SELECT max(effective_at) FROM settings_versions").fetchone()[0]
    if last_effective is None or last_effective <= pt.as_of:
        return []
    cid, domain = pt.contact["contact_id"], pt.domain
    out = []
    for pv in settings_mod.pending_versions(con, pt.as_of):
        doc = con.execute("SELECT document FROM settings_versions WHERE version = ?", [pv["version"]]).fetchone()[0]
        nxt = settings_mod.parse_settings(json.loads(doc))
        at = pv["effective_at"]
        sql, params, W, Wa = _relation_sql(nxt, at, "d_point")
        where, wp = ("domain = ?", [domain]) if domain is not None else ("contact_id = ?", [cid])
        ctes, cte_params = _point_ctes(ev, where, wp, domain)
        cur = con.execute(f"{ctes} SELECT * FROM ({sql}) WHERE contact_id = ?", cte_params + params + [cid])
        one = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
        single = _single(nxt, pv["version"], at, one, W, Wa, ev)
        changes = _answer_changes(ev, answer, single, _answer(single, 0))
        out.append({"version": pv["version"], "effective_at": _iso(at), "created_at": _iso(pv["created_at"]),
                    "actor": pv["actor"], "note": pv["note"], "changes_answer": bool(changes), "changes": changes})
    return out


def _opt_out_entry(status: dict | None) -> dict | None:
    if status is None:
        return None
    return {"source": status["source"], "event_id": status["event_id"],
            "opted_out_at": _iso(status["opted_out_at"]), "crm_flag": status["crm_flag"],
            "text": _opt_out_text(status["source"])
            + (f" since {_iso(status['opted_out_at'])}" if status["opted_out_at"] else "")
            + ": removed from all active sequences and can enter none; no toggle changes that"}


def explain(con: duckdb.DuckDBPyConnection, email: str, *, as_of: dt.datetime | None = None) -> dict:
    """One contact's Exclusion tab (JSON-able): opt-out status and source; every exclusion with whether it
    applies, the values that matched, its state at each level, the sequences and audiences it blocks and
    what would let the contact through; the contact's enrollments and what happens at their next send;
    pending settings versions that would change the answer."""
    ev = evaluation(con, as_of=as_of)
    as_of = ev.as_of if as_of is None else _as_of(con, as_of)
    _check_visible(con, ev)
    if "has_members" not in ev._memo:
        ev._memo["has_members"] = bool(con.execute(
            "SELECT count(*) FROM (SELECT 1 FROM company_members LIMIT 1)").fetchall()[0][0])
    s = ev.settings
    levels = _saved_levels(ev)
    pt = _locate(con, ev, email, as_of)
    _company_matchers(con, pt)
    _company_records(con, pt)
    opted = bool(ev.opted[pt.g])
    status = optouts.opt_out_status(con, s, pt.key, as_of) if opted else None
    since = _since(con, ev)
    answer = _answer(ev, pt.g)
    exclusions = [_exclusion_entry(pt, i, levels, since, opted) for i in range(len(s.exclusions))]
    sequences = _sequence_entries(s, answer, opted)
    opt_out = _opt_out_entry(status)
    summary = ([opt_out["text"]] if opt_out else []) + [x["text"] for x in exclusions if x["state"] != "no_match"]
    summary += [f"blocked in sequence {sq['name']} by " + ", ".join(b["name"] for b in sq["blocking"])
                for sq in sequences if sq["blocking"] and not opted]
    summary += list(dict.fromkeys(f"play {p.name}: {b['text']}" for p in s.plays
                                  for b in answer["plays"][p.id].get("blockers", []) if b.get("reason")))
    if opted:
        through = ["nothing but a reversal of the opt-out with the contact's documented permission"]
    else:
        through = [line for x in exclusions for line in x["let_through"]]
    return {
        "email": pt.key,
        "contact": {k: _jsonable(v) for k, v in pt.contact.items()},
        **ev.meta(),
        "opted_out": opted,
        "opt_out": opt_out,
        "exclusions": exclusions,
        "sequences": sequences,
        "plays": [{"id": p.id, "name": p.name, "outcome": answer["plays"][p.id]["outcome"],
                   "nodes": answer["plays"][p.id]["nodes"], "blocking": answer["plays"][p.id].get("blockers", [])}
                  for p in s.plays],
        "enrollments": _enrollment_entries(pt, levels),
        "pending": _pending_entries(con, pt, answer),
        "let_through": through,
        "summary": summary,
        "company_records": [{**{k: _jsonable(v) for k, v in r.items()}, "label": ev_text.record_label(r)}
                            for r in pt.records],
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
