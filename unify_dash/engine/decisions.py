"""The scheduler's questions, answered on the evaluation's groups: who enters a Play and at which node
(:func:`entry_decisions`), and what happens to each enrollment's next step at send time
(:func:`send_decisions`)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from unify_dash.engine.evaluator import Evaluation, _check_visible
from unify_dash.engine.funnel import _funnel, _saved_levels
from unify_dash.engine.impact import _blockers, _opt_out_text
from unify_dash.model import states
from unify_dash.model.levels import Levels

# --- scheduler decisions -----------------------------------------------------------------------------------


def entry_decisions(con: duckdb.DuckDBPyConnection, ev: Evaluation, play_id: str,
                    contact_ids: list[str] | None = None, *, part: tuple[int, int] | None = None) -> pd.DataFrame:
    """Play entry: one row per contact of the Play's audience (``contact_ids`` restricts) and sequence node.

    Columns: contact_id, play_id, node_id, sequence_id, outcome (``opted_out`` | ``excluded_at_audience``
    | ``not_enrolled`` | ``enrolled``; ``entered`` for a Play without nodes; ``not_routed`` at the nodes of
    a branching Play the contact does not go to), blocking (list of {exclusion_id, name, level, node_id,
    ...}; one active sequence at a time: {reason: active_elsewhere, ...}), reason (text).

    ``part=(k, n)``: only the contacts whose ``hash(contact_id) % n`` is ``k`` (the scheduler's first tick
    over millions of contacts, in ``n`` bounded batches; every contact is in exactly one part)."""
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
    if part is not None:
        sql += " AND hash(contact_id) % ? = ?"
        params += [int(part[1]), int(part[0])]
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
            elif not f.route[g, k]:  # Play branching: this contact goes to another node, or to none
                outcome[u, k], blocking[u, k] = "not_routed", []
                reason[u, k] = _route_text(f, g)
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


def enters_first(ev: Evaluation, sequence_id: str) -> list[dict]:
    """The blocking list of a Play-entry row that waits because the same contact enters ``sequence_id``
    in the same entry pass (one active sequence at a time: the first Play, then the first node, in the
    settings' order, wins; the others are attempted again once that enrollment has ended)."""
    label = states.BLOCK_REASONS["active_elsewhere"]
    name = ev.settings.sequence(sequence_id).name
    return [{"exclusion_id": None, "reason": "active_elsewhere", "name": label, "level": "sequence",
             "sequence_id": sequence_id,
             "text": f"{label}: enters sequence {name} first (organisation setting; this one once that ends)"}]


def _route_text(f, g: int) -> str:
    """Why a contact of a branching Play is not for a node: the node it goes to, or none."""
    for k, nd in enumerate(f.nodes):
        if f.route[g, k]:
            return f"Play branching: goes to node {nd.name} (the first node whose condition it meets)"
    return states.BLOCK_REASONS["unrouted"]


def _sequence_levels(ev: Evaluation, levels: Levels) -> tuple[list[str], np.ndarray]:
    seqs = [s.id for s in ev.settings.sequences]
    n = len(ev.exclusion_ids)
    on = (np.stack([levels.node(s.ruleset) for s in ev.settings.sequences])
          if seqs else np.zeros((0, n), dtype=bool))
    return seqs, on


def send_decisions(con: duckdb.DuckDBPyConnection, ev: Evaluation,
                   enrollment_ids: list[str] | None = None, *, rowids: list[int] | None = None) -> pd.DataFrame:
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
    level, ruleset_id, remove_from_active_sequences}), text.

    ``rowids`` (the scheduler, inside its transaction): the enrollments by ``rowid`` instead of by id,
    read without a scan of the enrollments' ids; the frame then also has ``rid`` and ``email``."""
    if rowids is not None:
        return _send_frame(con, ev, "WHERE e.rowid IN (SELECT unnest(?::BIGINT[]))", [[int(x) for x in rowids]],
                           extra=", e.rowid AS rid, x.email")
    if enrollment_ids is None:
        return _send_frame(con, ev, "", [])
    return _send_frame(con, ev, "WHERE e.enrollment_id IN (SELECT unnest(?::VARCHAR[]))",
                       [[str(x) for x in enrollment_ids]])


def _send_frame(con: duckdb.DuckDBPyConnection, ev: Evaluation, where: str, params: list,
                extra: str = "") -> pd.DataFrame:
    _check_visible(con, ev)
    df = con.execute(
        f"SELECT e.enrollment_id, e.contact_id, e.play_id, e.node_id, e.sequence_id, e.state, e.current_step, "
        f"x.group_id, x.opt_source{extra} FROM enrollments e LEFT JOIN {ev.table} x ON x.contact_id = e.contact_id "
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
        return pd.DataFrame(columns=columns + [c for c in ("rid", "email") if c in df.columns])
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
    return out[columns + [c for c in ("rid", "email") if c in out.columns]]
