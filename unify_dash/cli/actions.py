"""The contact actions on the command line: ``optout``, ``reverse``, ``unenroll``, ``enroll``,
``override add`` and ``history``. Each calls the same domain function as the app's button (or tab)
and prints a line, or JSON with ``--json``. ``--as ROLE`` / ``--actor NAME`` say who acts (default
``$UNIFY_ROLE`` or ``revops``, ``$UNIFY_USER`` or ``local``, as the app without sign-in); the domain
function refuses what the role may not do.
"""

from __future__ import annotations

import json
import os
import sys

from unify_dash.actions import enrollments as lifecycle
from unify_dash.actions import optouts
from unify_dash.errors import ValidationError
from unify_dash.model import roles
from unify_dash.model import settings as settings_mod
from unify_dash.reports import metrics
from unify_dash.store import db

ROLE_ENV, USER_ENV, DEFAULT_ROLE = "UNIFY_ROLE", "UNIFY_USER", "revops"  # as app/ui.py without sign-in


def actor_of(args) -> roles.Actor:
    return roles.Actor(args.actor or os.environ.get(USER_ENV) or "local",
                       args.role or os.environ.get(ROLE_ENV) or DEFAULT_ROLE)


def _run(args, action, words) -> int:
    con = db.connect(args.db)
    try:
        result = action(con, actor_of(args))
    finally:
        con.close()
    print(json.dumps(result, sort_keys=True, default=str) if args.json else words(result))
    return 0


def cli_optout(args) -> int:
    """``unify-dash optout EMAIL --source admin``: the Opt-out button."""
    return _run(args, lambda con, who: optouts.opt_out(con, who, args.email, source=args.source),
                lambda r: (f"{r['email']} was already opted out ({r['source']}, since {r['opted_out_at']})"
                           if r["already_opted_out"] else
                           f"{r['email']} opted out ({r['source']}, event {r['event_id']}); "
                           f"{len(r['removed_enrollments'])} enrollment(s) ended, {len(r['writebacks'])} CRM write-back(s)"))


def cli_reverse(args) -> int:
    """``unify-dash reverse EMAIL --permission-by WHO --permission-at TIME --evidence TEXT``."""
    return _run(args, lambda con, who: optouts.reverse_opt_out(
        con, who, args.email, permission_by=args.permission_by, permission_at=args.permission_at,
        evidence=args.evidence),
        lambda r: f"opt-out of {r['email']} reversed (event {r['event_id']}, permission by "
                  f"{r['permission']['permission_by']}); it can be enrolled again")


def cli_unenroll(args) -> int:
    """``unify-dash unenroll EMAIL [--sequence ID]``: one contact (the Contact page's Unenroll);
    ``unify-dash unenroll --sequence ID --filter JSON [--play P --node N] [--batch-size N]``: every
    queued or active enrollment of the sequence whose contact the filter selects, in batches with
    progress (the Metrics list's "Unenroll all matching"); ``--filter all`` selects everyone."""
    if args.email:
        if args.filter is not None:
            raise ValidationError("give an EMAIL or --filter, not both")
        return _run(args, lambda con, who: lifecycle.unenroll(con, who, args.email, args.sequence),
                    lambda r: f"{r['email']} unenrolled from {len(r['unenrolled'])} enrollment(s): "
                              f"{', '.join(r['unenrolled'])}")
    if args.filter is None or not args.sequence:
        raise ValidationError("unenroll needs an EMAIL, or --sequence ID with --filter (a rule condition as JSON, "
                              "or 'all')")
    if args.filter.strip().lower() == "all":
        condition = None
    else:
        try:
            condition = json.loads(args.filter)
        except json.JSONDecodeError as err:
            raise ValidationError(f"--filter is not JSON ({err.msg} at character {err.pos}); expected e.g. "
                                  '\'{"field": "title", "op": "contains", "value": "VP"}\' or all') from None

    def progress(done: int, total: int) -> None:
        print(f"  {done:,} of {total:,} unenrolled", file=sys.stderr)

    return _run(args, lambda con, who: lifecycle.bulk_unenroll(
        con, who, sequence_id=args.sequence, filter=condition, play_id=args.play, node_id=args.node, state=args.state,
        batch_size=args.batch_size, progress=None if args.json else progress),
        lambda r: f"job {r['job_id']}: {r['unenrolled_now']:,} enrollment(s) of {r['total']:,} selected "
                  f"unenrolled from {args.sequence} ({r['status']})")


def cli_enroll(args) -> int:
    """``unify-dash enroll EMAIL --sequence ID``."""
    return _run(args, lambda con, who: lifecycle.enroll(con, who, args.email, args.sequence),
                lambda r: f"{r['email']} enrolled in {r['sequence_id']} ({r['enrollment_id']}, first step due "
                          f"{r['next_step_at']})")


def cli_override_add(args) -> int:
    """``unify-dash override add EXCLUSION EMAIL --note TEXT [--expires T]``."""
    expires = (db.parse_timestamp(args.expires, "--expires", "an ISO timestamp like 2027-01-31T00:00")
               if getattr(args, "expires", None) else None)

    def add(con, who):
        version = settings_mod.add_email_override(con, who, args.exclusion, args.email, note=args.note,
                                                  expires_at=expires)
        effective = con.execute("SELECT effective_at FROM settings_versions WHERE version = ?", [version]).fetchone()[0]
        return {"exclusion": args.exclusion, "email": args.email.strip().lower(), "version": version,
                "effective_at": effective, "warning": optouts.override_warning(con, args.email)}
    return _run(args, add, lambda r: f"'Email is not {r['email']}' added to {r['exclusion']}: settings version "
                                     f"{r['version']}, in effect from {r['effective_at']}"
                                     + (f"\nwarning: {r['warning']}" if r["warning"] else ""))


def contact_history(con, email: str) -> dict:
    """The Contact page's History, Execution log and audit for one contact, in full."""
    contact = optouts.contact_row(con, email)
    events = metrics.contact_events(con, contact["email"], limit=1_000_000)["rows"]
    log = metrics.execution_log(con, email=contact["email"], limit=None)["rows"]
    audit = metrics.recent_audit(con, target=contact["email"], limit=1_000_000)
    return {"email": contact["email"], "contact_id": contact["contact_id"],
            "events": json.loads(events.to_json(orient="records", date_format="iso")),
            "execution_log": json.loads(log.to_json(orient="records", date_format="iso")),
            "audit": json.loads(audit.to_json(orient="records", date_format="iso"))}


def cli_history(args) -> int:
    """``unify-dash history EMAIL --json``: events, execution log and audit rows of the contact."""
    con = db.connect(args.db)
    try:
        out = contact_history(con, args.email)
    finally:
        con.close()
    if args.json:
        print(json.dumps(out, sort_keys=True, default=str))
    else:
        print(f"{out['email']}: {len(out['events'])} events, {len(out['execution_log'])} execution-log rows, "
              f"{len(out['audit'])} audit rows")
        for e in out["events"]:
            print(f"  {e['occurred_at']}  {e['type']:<17} {e.get('source') or '':<10} {e['event_id']}")
    return 0
