"""``unify-dash crm pull salesforce|hubspot``, ``crm push [--crm ...]`` and ``crm resolve``: the CRM sync
page's buttons on the command line (the same domain functions), a summary or ``--json``."""

from __future__ import annotations

import json

from unify_dash.actions import crmsync
from unify_dash.cli.actions import actor_of
from unify_dash.connectors import pull as pull_mod
from unify_dash.connectors import push as push_mod
from unify_dash.connectors.pull import pull_lines
from unify_dash.connectors.push import push_lines
from unify_dash.store import db


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
