"""One contact's Exclusion tab (:func:`explain`): point queries next to the evaluation."""

from __future__ import annotations

import collections
import datetime as dt
import json
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from unify_dash.actions import optouts
from unify_dash.engine.decisions import _opted_decision_text, _pair_decisions, _sequence_levels
from unify_dash.engine.evaluator import (
    OPPORTUNITY_FIELDS,
    Evaluation,
    _as_of,
    _check_visible,
    _iso,
    _relation_sql,
    _unpack,
    evaluation,
)
from unify_dash.engine.funnel import _funnel, _saved_levels
from unify_dash.engine.impact import _blockers, _opt_out_text
from unify_dash.errors import NotFound
from unify_dash.model import settings as settings_mod
from unify_dash.model import states
from unify_dash.model import vocabulary as vocab
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
        blocked_seqs = [sq for sq in s.sequences if applies and levels.node(sq.ruleset)[i]]
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
