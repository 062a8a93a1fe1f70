"""``funnel``, ``overlap``, ``lint``, ``settings-diff``, ``overrides``, ``trends``, ``forecast``: the read-only
reports of the Play view and the Rule health / Trends pages, printed for a terminal (``--json``: the
same dict the page shows). Each calls the one function of ``unify_dash/reports/`` its page calls."""

from __future__ import annotations

import contextlib
import json

from unify_dash import engine
from unify_dash.model.levels import parse_toggles
from unify_dash.reports import forecast, funnelview, lint, overrides, settings_diff, trends
from unify_dash.store import db


@contextlib.contextmanager
def _con(args):
    con = db.connect(args.db)
    try:
        yield con
    finally:
        con.close()


def _json(out: dict) -> int:
    print(json.dumps(out, indent=2, default=str))
    return 0


def cli_funnel(args) -> int:
    """``unify-dash funnel --play ID [--set EXCLUSION@LEVEL=on|off ...] [--json]``."""
    with _con(args) as con:
        ev = engine.evaluation(con)
        _, play = ev.play(args.play)
        out = funnelview.funnel(con, args.play, parse_toggles(args.set, play, ev.settings))
    if args.json:
        return _json(out)
    print(f"{out['play']['name']} (settings v{out['settings_version']}, as of {out['as_of']}):")
    for s in out["segments"]:
        indent = "  " * s["level"] + ("    " if s["kind"] == "reason" else "")
        delta = f"  ({s['change']:+,} vs saved)" if out["toggles"] and s["change"] else ""
        print(f"  {indent}{s['label']:<52} {s['value']:>10,}{delta}")
    return 0


def cli_overlap(args) -> int:
    """``unify-dash overlap --play ID [--sort matched|blocking|blocks_alone] [--json]``."""
    with _con(args) as con:
        out = lint.overlap(con, args.play)
    out["exclusions"].sort(key=lambda x: -(x[args.sort] or 0))
    if args.json:
        return _json(out)
    print(f"{out['play']['name']}: exclusions by {args.sort}")
    print(f"  {'exclusion':<44} {'matched':>9} {'blocking':>9} {'alone':>9}")
    for x in out["exclusions"]:
        print(f"  {x['name']:<44} {x['matched']:>9,} {x['blocking']:>9,} {x['blocks_alone']:>9,}")
    return 0


def cli_lint(args) -> int:
    """``unify-dash lint [--override-days N] [--json]``; exit 0 even with findings (a report, not a gate)."""
    with _con(args) as con:
        out = lint.lint(con, override_days=args.override_days)
    if args.json:
        return _json(out)
    if not out["findings"]:
        print(f"settings v{out['settings_version']}: no findings")
    for f in out["findings"]:
        print(f"{f['kind']:<24} {f['name']}: {f['detail']}")
    return 0


def cli_settings_diff(args) -> int:
    """``unify-dash settings-diff A B [--direction released|newly_blocked] [--limit N] [--json]``."""
    with _con(args) as con:
        out = settings_diff.settings_diff(con, args.a, args.b, limit=args.limit, direction=args.direction)
    if args.json:
        return _json(out)
    print(f"settings v{out['from']['version']} -> v{out['to']['version']}: {len(out['changes'])} changes")
    for c in out["changes"]:
        print(f"  [{c['kind']}] {c['text']}")
    f = out["flipped"]
    print(f"contacts flipped: {f['released']:,} released, {f['newly_blocked']:,} newly blocked")
    for p in f["by_play"]:
        print(f"  {p['play']}: {p['released']:,} released, {p['newly_blocked']:,} newly blocked")
    for r in out["rows"]:
        print(f"  {r['direction']:<14} {r['email'] or r['contact_id']:<40} {r['play']}")
    return 0


def cli_overrides(args) -> int:
    """``unify-dash overrides [--exclusion ID] [--json]``."""
    with _con(args) as con:
        out = overrides.registry(con, exclusion_id=args.exclusion)
    if args.json:
        return _json(out)
    for o in out["overrides"]:
        state = "expired" if o["expired"] else "in effect" if o["in_effect"] else "pending"
        expiry = f", expires {o['expires_at']}" if o["expires_at"] else ""
        print(f"{o['exclusion']}: Email is not {o['address']} ({state}{expiry}) added {o['added_at']} by "
              f"{o['added_by']}: {o['note'] or '-'}; {o['sends_let_through']} sends since"
              + ("" if o["contact_id"] else "; no contact has this address"))
    if not out["overrides"]:
        print("no 'Email is not' overrides")
    return 0


def cli_trends(args) -> int:
    """``unify-dash trends [--play ID] [--period day|hour] [--threshold F] [--min-contacts N] [--json]``."""
    with _con(args) as con:
        out = trends.trends(con, play_id=args.play, period=args.period, threshold=args.threshold,
                            min_contacts=args.min_contacts)
    if args.json:
        return _json(out)
    if not out["points"]:
        print("no execution-log history yet: run the scheduler (unify-dash sends --until T)")
        return 0
    print(f"Not Enrolled by reason, per {out['period']} (last: {out['points'][-1]})")
    for s in out["series"]:
        print(f"  {s['name']:<44} " + " ".join(f"{n:>7,}" for n in s["contacts"][-8:]))
    for a in out["alerts"]:
        print(f"ALERT {a['name']}: {a['before']:,} -> {a['after']:,} between {a['from']} and {a['to']}: "
              + "; ".join(e["text"] for e in a["events"]))
    return 0


def cli_forecast(args) -> int:
    """``unify-dash forecast [--until T] [--state queued|active] [--limit N] [--json]``."""
    until = db.parse_timestamp(args.until, "--until", "an ISO timestamp like 2026-11-27T09:00") if args.until else None
    with _con(args) as con:
        out = forecast.forecast(con, until=until, state=args.state, limit=args.limit)
    if args.json:
        return _json(out)
    print(f"next run ({out['run_at']}, settings v{out['settings_version']}): {out['due']:,} waiting steps, "
          + ", ".join(f"{n:,} {forecast.LABELS.get(k, k)}" for k, n in out["decisions"].items()))
    for r in out["by_reason"]:
        print(f"  {r['reason']:<44} {r['enrollments']:>8,}")
    for r in out["rows"]:
        print(f"  {r['decision']:<7} {r['email'] or r['contact_id']:<40} {r['sequence']}: {', '.join(r['reasons'])}")
    return 0


def add_parsers(sub, default_db: str) -> None:
    """The verbs' arguments (called by :func:`unify_dash.cli.build_parser`)."""
    p = sub.add_parser("funnel", help="a Play's funnel: audience, opted out, exclusions, Not Enrolled, Enrolled")
    p.add_argument("--play", required=True, help="play id")
    p.add_argument("--set", action="append", default=[], metavar="EXCLUSION@LEVEL=on|off",
                   help="what-if toggle, as for impact (repeatable)")
    p = _common(p, default_db)
    p = sub.add_parser("overlap", help="a Play's exclusions: matched, blocking, blocks alone, and their overlap")
    p.add_argument("--play", required=True, help="play id")
    p.add_argument("--sort", choices=["matched", "blocking", "blocks_alone"], default="blocks_alone")
    _common(p, default_db)
    p = sub.add_parser("lint", help="rule lint: rules matching nobody, shadowed, never acting; stale overrides")
    p.add_argument("--override-days", type=int, default=lint.DEFAULT_OVERRIDE_DAYS,
                   help=f"flag overrides older than this many days (default {lint.DEFAULT_OVERRIDE_DAYS})")
    _common(p, default_db)
    p = sub.add_parser("settings-diff", help="what changed between two settings versions or dates, and who flipped")
    p.add_argument("a", help="from: a version (3, v3) or an ISO time (the version in effect then)")
    p.add_argument("b", help="to: a version or an ISO time")
    p.add_argument("--direction", choices=list(settings_diff.DIRECTIONS), help="list only these contacts")
    p.add_argument("--limit", type=int, default=50, help="contacts listed (default 50)")
    _common(p, default_db)
    p = sub.add_parser("overrides", help="the 'Email is not' override registry: who, when, why, sends, expiry")
    p.add_argument("--exclusion", help="only this exclusion's overrides")
    _common(p, default_db)
    p = sub.add_parser("trends", help="Not Enrolled by reason over time, with alerts on settings changes and syncs")
    p.add_argument("--play", help="only this play")
    p.add_argument("--period", choices=list(trends.PERIODS), default="day")
    p.add_argument("--threshold", type=float, default=trends.DEFAULT_THRESHOLD,
                   help=f"alert above this share of the previous count (default {trends.DEFAULT_THRESHOLD})")
    p.add_argument("--min-contacts", type=int, default=trends.DEFAULT_MIN_CONTACTS,
                   help=f"... and above this many contacts (default {trends.DEFAULT_MIN_CONTACTS})")
    _common(p, default_db)
    p = sub.add_parser("forecast", help="send-time forecast: what the next run skips and why (sends nothing)")
    p.add_argument("--until", help="only steps due by this ISO time, decided as of then")
    p.add_argument("--state", choices=list(forecast.STATES), help="only queued or only active enrollments")
    p.add_argument("--limit", type=int, default=50, help="enrollments listed (default 50)")
    _common(p, default_db)


def _common(p, default_db: str):
    p.add_argument("--db", default=default_db)
    p.add_argument("--json", action="store_true", help="print JSON")
    return p
