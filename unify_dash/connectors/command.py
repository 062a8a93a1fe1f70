"""``unify-dash crm pull salesforce|hubspot``, ``crm push [--crm ...]`` and ``crm resolve``: the CRM sync
page's buttons on the command line (the same domain functions), a summary or ``--json``."""

from __future__ import annotations

import json

from unify_dash.actions import crmsync
from unify_dash.cli.actions import actor_of
from unify_dash.connectors import pull as pull_mod
from unify_dash.connectors import push as push_mod
from unify_dash.io import exports
from unify_dash.store import db


def pull_lines(result: dict) -> list[str]:
    p = result["pull"]
    records = ", ".join(f"{obj} {n:,}" for obj, n in p["records"].items())
    lines = [f"pulled {p['crm']}: {records} records in {p['requests']} requests ({p['retries']} retried) "
             f"in {p['seconds']}s",
             f"  contacts {result['contacts']:,}, company records {result['company_records']:,}, "
             f"opportunities {result['opportunities']:,}; CRM opt-outs {result['crm_opt_outs_new']:,} new; "
             f"settings version {result['settings_version']} kept"]
    lines += [f"  file: {line}" for line in exports.summary_lines(result.get("files", []))]
    lines += [f"  warning: {w}" for w in result.get("warnings", [])]
    return lines


def push_lines(result: dict) -> list[str]:
    if not result["crms"]:
        return ["nothing to push: no pending write-back"]
    lines = [f"pushed {crm}: {c['sent']:,} sent, {c['failed']:,} failed of {c['pending']:,} pending "
             f"({c['requests']} requests, {c['retries']} retried)" for crm, c in result["crms"].items()]
    lines += [f"  failed: {f['email']} ({f['crm']} {f['crm_id']}): {f['error']}" for f in result["failures"][:20]]
    if len(result["failures"]) > 20:
        lines.append(f"  ... and {len(result['failures']) - 20} more (the CRM sync page lists them all)")
    return lines


def _print(args, result, lines) -> None:
    print(json.dumps(result, sort_keys=True, default=str) if args.json else "\n".join(lines(result)))


def cli_crm(args) -> int:
    con = db.connect(args.db)
    try:
        who = actor_of(args)
        if args.crm_verb == "pull":
            result = pull_mod.pull(con, who, args.crm)
            result.pop("sources", None)
            _print(args, result, pull_lines)
        elif args.crm_verb == "push":
            _print(args, push_mod.push(con, who, args.crm), push_lines)
        else:
            queued = crmsync.queue_conflict_writebacks(con, who, emails=args.email or None)
            result = {"contacts": queued["contacts"], "writebacks": len(queued["writebacks"])}
            if args.push:
                result["push"] = push_mod.push(con, who)

            def words(r):
                out = [f"queued {r['writebacks']} write-back(s) for {r['contacts']} conflict(s)"]
                return out + (push_lines(r["push"]) if "push" in r else [])
            _print(args, result, words)
    finally:
        con.close()
    return 0
