"""``crm push``: send every pending write-back to its CRM and record each one's answer.

Only ``pending`` write-backs are sent; each becomes ``sent`` or ``failed`` (with the CRM's error and the
attempt count) by :func:`unify_dash.actions.crmsync.record_push_results`, so a second push sends nothing.
Answers are recorded as they come, in batches of :data:`RECORD_EVERY`: a push stopped half-way (a 401, the
network) keeps what was already accepted and leaves the rest pending. 429 / 5xx answers are retried by the
HTTP client (:mod:`unify_dash.connectors.http`); a 401 / 403 stops the push with one sentence.
"""

from __future__ import annotations

import time

from unify_dash.actions import crmsync
from unify_dash.connectors import hubspot, salesforce
from unify_dash.connectors.config import CRMS, SF, config
from unify_dash.model import roles

RECORD_EVERY = 200


def push(con, actor: roles.Actor, crm: str | None = None, *, secrets=None, progress=None,
         client_options=None) -> dict:
    """Push the pending write-backs (of ``crm``, or of every CRM that has some). Returns per CRM the
    number pending before, sent, failed, requests and retries, and the failures (email, CRM error)."""
    roles.require(actor, "crm.sync")
    progress = progress or (lambda _f, _m: None)
    started = time.perf_counter()
    pending = crmsync.pending_writebacks(con)
    if crm is not None:
        pending = pending[pending["crm"] == crm]
    todo = [c for c in CRMS if c in set(pending["crm"])]
    configs = {c: config(c, secrets) for c in todo}  # every CRM configured, or nothing is sent
    out = {"crms": {}, "failures": []}
    for i, c in enumerate(todo):
        rows = pending[pending["crm"] == c].to_dict("records")
        client = configs[c].client(**(client_options or {}))
        buffer: dict[str, tuple[bool, str | None]] = {}
        counts = {"pending": len(rows), "sent": 0, "failed": 0}

        def flush(buffer=buffer, counts=counts):
            if buffer:
                done = crmsync.record_push_results(con, actor, dict(buffer))
                counts["sent"] += done["sent"]
                counts["failed"] += done["failed"]
                buffer.clear()

        def record(results, buffer=buffer, flush=flush):
            buffer.update(results)
            if len(buffer) >= RECORD_EVERY:
                flush()

        def step(fraction, message, i=i):
            progress((i + fraction) / len(todo), message)

        module = salesforce if c == SF else hubspot
        try:
            module.push(configs[c], client, rows, step, record)
        finally:
            flush()  # what the CRM accepted before a failure stays recorded
        by_id = {r["writeback_id"]: r for r in rows}
        failed = crmsync.writebacks(con, status="failed")
        failed = failed[failed["writeback_id"].isin(list(by_id))]
        out["failures"] += [{"crm": c, "email": r.email, "crm_id": r.crm_id, "error": r.last_error}
                            for r in failed.itertuples(index=False)]
        out["crms"][c] = {**counts, "requests": client.requests_made, "retries": client.retries}
    out["seconds"] = round(time.perf_counter() - started, 2)
    progress(1.0, "done")
    return out


def push_lines(result: dict) -> list[str]:
    if not result["crms"]:
        return ["nothing to push: no pending write-back"]
    lines = [f"pushed {crm}: {c['sent']:,} sent, {c['failed']:,} failed of {c['pending']:,} pending "
             f"({c['requests']} requests, {c['retries']} retried)" for crm, c in result["crms"].items()]
    lines += [f"  failed: {f['email']} ({f['crm']} {f['crm_id']}): {f['error']}" for f in result["failures"][:20]]
    if len(result["failures"]) > 20:
        lines.append(f"  ... and {len(result['failures']) - 20} more (the CRM sync page lists them all)")
    return lines
