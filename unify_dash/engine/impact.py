"""What-if counts of a Play (:func:`impact`), the overlap of exclusions, and the contacts behind any
count (:func:`drilldown`), with the reasons that block each contact."""

from __future__ import annotations

import duckdb
import numpy as np

from unify_dash.engine.evaluator import COUNT_KEYS, EXCLUSION_KEYS, PAGE_BLOCK, Evaluation, _check_visible
from unify_dash.engine.funnel import (
    _Funnel,
    _funnel,
    _levels,
    _matches_f,
    _node_index,
    _play_nodes,
    _saved_levels,
    _select,
    _term_counts,
    _terms,
)
from unify_dash.errors import ValidationError
from unify_dash.model import states
from unify_dash.model import vocabulary as vocab
from unify_dash.model.levels import Levels

# --- impact --------------------------------------------------------------------------------------------


def _count(ev: Evaluation, sel: np.ndarray) -> int:
    return int(ev.counts[sel].sum())


def _numbers(ev: Evaluation, f: _Funnel) -> dict:
    memo: dict = {}
    K = len(f.nodes)
    return {
        "counts": {b: _count(ev, _select(ev, f, b, None, None)) for b in COUNT_KEYS},
        "nodes": [{b: _count(ev, _select(ev, f, b, k, None))
                   for b in ("reached", "not_enrolled", "active_elsewhere", "enrolled")} for k in range(K)],
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
    levels = _levels(ev, toggles)
    norm = levels.toggles
    saved_key = ("saved_numbers", play_id)
    saved_levels = _saved_levels(ev)
    saved = ev._memo.get(saved_key)
    if saved is None:
        saved = ev._memo[saved_key] = _numbers(ev, _funnel(ev, play_id, saved_levels))
    now = _numbers(ev, _funnel(ev, play_id, levels)) if norm else saved
    nodes = _play_nodes(ev, play)

    def diff(a: dict, b: dict) -> dict:
        return {k: a[k] - b[k] for k in a}

    out_nodes = []
    for k, nd in enumerate(nodes):
        out_nodes.append({"id": nd.id, "name": nd.name, "sequence_id": nd.sequence_id,
                          "sequence_name": nd.sequence_name, "ruleset_id": nd.ruleset_id,
                          "ruleset_name": nd.ruleset_name,
                          "condition": vocab.describe(nd.condition) if nd.condition is not None else None,
                          **now["nodes"][k], "saved": saved["nodes"][k],
                          "change": diff(now["nodes"][k], saved["nodes"][k])})
    rulesets = sorted({nd.ruleset_id for nd in nodes})
    node_saved = [saved_levels.node(nd.ruleset_id) for nd in nodes]
    node_now = [levels.node(nd.ruleset_id) for nd in nodes]
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


def _blockers(ev: Evaluation, f: _Funnel, levels: Levels, g: int, k: int | None = None) -> list[dict]:
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
            if (k is not None and kk != k) or not f.route[g, kk]:  # branching: only the node it goes to
                continue
            for i in np.flatnonzero(row & f.node_on[kk]):
                e = ev.settings.exclusions[i]
                out.append({"exclusion_id": e.id, "name": e.name, "level": "sequence", "node_id": nd.id,
                            "sequence_id": nd.sequence_id, "ruleset_id": nd.ruleset_id,
                            "text": f"{e.name} (sequence {nd.sequence_name}: org on + ruleset {nd.ruleset_name} on)"})
            if f.busy_blocked[g, kk]:
                out.append(_active_elsewhere(ev, g, nd))
    return out


def _active_elsewhere(ev: Evaluation, g: int, nd) -> dict:
    """The one-active-sequence reason at node ``nd`` for group ``g``: the other sequences it is in."""
    names = [s.name for s, busy in zip(ev.settings.sequences, ev.busy[g], strict=True)
             if busy and s.id != nd.sequence_id]
    label = states.BLOCK_REASONS["active_elsewhere"]
    return {"exclusion_id": None, "reason": "active_elsewhere", "name": label, "level": "sequence",
            "node_id": nd.id, "sequence_id": nd.sequence_id, "ruleset_id": None,
            "text": f"{label}: already in sequence {', '.join(names)} (organisation setting; enters "
                    f"{nd.sequence_name} once that one ends)"}


def _opt_out_text(source: str | None) -> str:
    return f"Opted out ({source or 'unknown source'})"


# --- drill-down ------------------------------------------------------------------------------------------


def _bucket(ev: Evaluation, play_id: str, bucket: str, node_id: str | None, exclusion_id: str | None,
            toggles: dict | None) -> tuple[_Funnel, Levels, int | None, np.ndarray]:
    if toggles:
        levels = _levels(ev, toggles)
        f = _funnel(ev, play_id, levels)
    else:  # the saved levels' funnel, once per evaluation (explain keeps the same)
        levels = _saved_levels(ev)
        ev.play(play_id)  # NotFound for an unknown Play, as _funnel says
        funnels = ev._memo.setdefault("saved_funnels", {})
        f = funnels.get(play_id)
        if f is None:
            f = funnels[play_id] = _funnel(ev, play_id, levels)
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


def _page(con: duckdb.DuckDBPyConnection, ev: Evaluation, gids: np.ndarray, limit: int, offset: int) -> list:
    """``(contact_id, email, group_id, opt_source, first_name, last_name, title, domain)`` of the contacts of
    groups ``gids``, by (email, contact id): from the evaluation's group table, in DuckDB or in the lake."""
    if ev.store is not None:  # the group table is outside DuckDB (Spark): the same query, translated
        return ev.store.page(gids.tolist(), int(limit), int(offset))
    _check_visible(con, ev)
    if ev.block_counts is not None:
        return _block_page(con, ev, gids, limit, offset)
    return con.execute(
        f"""SELECT p.contact_id, p.email, p.group_id, p.opt_source, c.first_name, c.last_name, c.title,
                   c.domain
            FROM (SELECT contact_id, email, group_id, opt_source FROM {ev.table}
                  WHERE group_id IN (SELECT unnest(?::INTEGER[]))
                  ORDER BY email, contact_id LIMIT ? OFFSET ?) p
            LEFT JOIN contacts c ON c.contact_id = p.contact_id
            ORDER BY p.email, p.contact_id""",
        [gids.tolist(), int(limit), int(offset)]).fetchall()


def _per_block(ev: Evaluation, gids: np.ndarray) -> np.ndarray:
    """How many contacts of the groups ``gids`` each block of positions holds (exact: a block holds at most
    PAGE_BLOCK). A few groups: their columns of the block matrix summed; many: one matrix-vector product."""
    bc = ev.block_counts
    if 4 * len(gids) < bc.shape[1]:
        return np.rint(bc[:, gids].sum(axis=1, dtype=np.float64)).astype(np.int64)
    sel = np.zeros(bc.shape[1], dtype=np.float32)
    sel[gids] = 1.0
    return np.rint(bc @ sel).astype(np.int64)


def _block_page(con: duckdb.DuckDBPyConnection, ev: Evaluation, gids: np.ndarray, limit: int, offset: int) -> list:
    """A page by position, whatever its offset: the evaluation counts each group's contacts per block of
    positions (``ev.block_counts``), so the blocks holding rows ``offset .. offset + limit`` of the
    groups ``gids`` are known before any row is read, and only they are scanned (the table is stored
    in position order: DuckDB skips the other row groups by their min/max)."""
    per_block = _per_block(ev, gids)
    cum = np.cumsum(per_block)
    total = int(cum[-1]) if len(cum) else 0
    if offset >= total or not limit:
        return []
    last = min(offset + limit, total) - 1
    b0 = int(np.searchsorted(cum, offset, side="right"))
    b1 = int(np.searchsorted(cum, last, side="right"))
    skip = offset - (int(cum[b0 - 1]) if b0 else 0)
    return con.execute(
        f"""SELECT contact_id, email, group_id, opt_source, first_name, last_name, title, domain
            FROM {ev.table}
            WHERE pos >= ? AND pos < ? AND group_id IN (SELECT unnest(?::INTEGER[]))
            ORDER BY pos LIMIT ? OFFSET ?""",
        [b0 * PAGE_BLOCK, (b1 + 1) * PAGE_BLOCK, gids.tolist(), int(limit), int(skip)]).fetchall()


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
        df = _page(con, ev, gids, limit, offset)
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
