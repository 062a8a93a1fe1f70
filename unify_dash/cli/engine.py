"""``unify-dash explain`` and ``unify-dash impact``: the engine's answers printed for a terminal."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path

from unify_dash.engine.evaluator import COUNT_KEYS, evaluation
from unify_dash.engine.explain import explain
from unify_dash.engine.impact import _state_word, impact
from unify_dash.model.levels import parse_toggles
from unify_dash.store import db

# --- CLI -----------------------------------------------------------------------------------------------------


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, default=str, sort_keys=False))


@contextlib.contextmanager
def spark_lake(args):
    """The lake ``--engine spark`` reads: ``--lake DIR``, or the ``--db`` database exported to a temporary
    lake (removed afterwards)."""
    from unify_dash.engine import spark
    from unify_dash.io.lake import export_lake

    master = getattr(args, "spark_master", None) or spark.DEFAULT_MASTER
    if getattr(args, "lake", None):
        yield spark.Lake(args.lake, master=master)
        return
    with tempfile.TemporaryDirectory(prefix="unify-lake-") as tmp:
        con = db.connect(args.db, read_only=True)
        try:
            export_lake(con, Path(tmp) / "lake")
        finally:
            con.close()
        print(f"exported {args.db} to a temporary lake for Spark", file=sys.stderr)
        yield spark.Lake(Path(tmp) / "lake", master=master)


def _spark(args) -> bool:
    return getattr(args, "engine", "duckdb") == "spark"


def cli_explain(args) -> int:
    """``unify-dash explain EMAIL [--db PATH] [--at T] [--json] [--engine duckdb|spark]``."""
    as_of = (db.parse_timestamp(args.at, "--at", "an ISO timestamp like 2026-11-26T09:00")
             if getattr(args, "at", None) else None)
    if _spark(args):
        from unify_dash.engine import spark

        with spark_lake(args) as lake:
            out = spark.explain_lake(lake, args.email, as_of=as_of)
    else:
        con = db.connect(args.db)
        try:
            out = explain(con, args.email, as_of=as_of)
        finally:
            con.close()
    if getattr(args, "json", False):
        _print_json(out)
        return 0
    c = out["contact"]
    name = " ".join(x for x in (c.get("first_name"), c.get("last_name")) if x)
    print(f"{out['email']}" + (f" ({name})" if name else "") + (f", {c['title']}" if c.get("title") else "")
          + (f", company {c['domain']}" if c.get("domain") else ""))
    print(f"as of {out['as_of']}, settings v{out['settings_version']}")
    print("opt-out: " + (out["opt_out"]["text"] if out["opt_out"] else "not opted out"))
    print("exclusions:")
    for x in out["exclusions"]:
        print(f"  - {x['text']}  [{x['scope']}] {x['criteria']}")
        if x["state"] == "no_match":
            continue
        for line in x["evidence"]:
            print(f"      * {line}")
        lv = x["levels"]
        print("      levels: organisation " + _state_word(lv["organisation"]) + "; "
              + "; ".join(f"ruleset {r} {_state_word(v)}" for r, v in lv["rulesets"].items())
              + ("; " if lv["audiences"] else "")
              + "; ".join(f"audience of {p} {_state_word(v)}" for p, v in lv["audiences"].items()))
        if x["blocks"]["sequences"]:
            print("      blocks sequences: " + ", ".join(sq["name"] for sq in x["blocks"]["sequences"]))
        if x["blocks"]["audiences"]:
            print("      blocks at the audience of: " + ", ".join(p["name"] for p in x["blocks"]["audiences"]))
    print("sequences:")
    for sq in out["sequences"]:
        state = ("opted out" if sq["opted_out"] else
                 "blocked by " + ", ".join(b["text"] for b in sq["blocking"]) if sq["blocked"] else "not blocked")
        print(f"  - {sq['name']} (ruleset {sq['ruleset_name']}): {state}")
    for p in out["plays"]:
        nodes = ", ".join(f"{k}: {v}" for k, v in p["nodes"].items())
        print(f"  play {p['name']}: {p['outcome']}" + (f" ({nodes})" if nodes else ""))
        for reason in dict.fromkeys(b["text"] for b in p["blocking"] if b.get("reason")):
            print(f"    {reason}")
    if out["enrollments"]:
        print("enrollments:")
        for e in out["enrollments"]:
            print(f"  - {e['sequence_id']} [{e['state']}, step {e['current_step']}]: {e['text']}")
    for pv in out["pending"]:
        print(f"pending: settings v{pv['version']} takes effect {pv['effective_at']}: "
              + ("; ".join(pv["changes"]) if pv["changes"] else "no change for this contact"))
    if out["let_through"]:
        print("what would let the contact through:")
        for line in out["let_through"]:
            print(f"  - {line}")
    return 0


def cli_impact(args) -> int:
    """``unify-dash impact --play ID [--set EXCLUSION@LEVEL=on|off ...] [--db PATH] [--json]
    [--engine duckdb|spark]``."""
    if _spark(args):
        from unify_dash.engine import spark

        with spark_lake(args) as lake:
            ev = spark.evaluation_lake(lake)
            _, play = ev.play(args.play)
            out = impact(ev, play.id, parse_toggles(getattr(args, "set", []), play, ev.settings))
    else:
        con = db.connect(args.db)
        try:
            ev = evaluation(con)
            _, play = ev.play(args.play)
            out = impact(ev, play.id, parse_toggles(getattr(args, "set", []), play, ev.settings))
        finally:
            con.close()
    if getattr(args, "json", False):
        _print_json(out)
        return 0
    print(f"play {out['play']['name']} ({out['play']['id']}), settings v{out['settings_version']} as of "
          f"{out['as_of']}, {out['contacts']} contacts")
    for t in out["toggles"]:
        print(f"  what-if: {t['exclusion_id']} @ {t['level']}{':' + t['target'] if t['target'] and t['level'] == 'ruleset' else ''}"
              f" = {'on' if t['on'] else 'off'}")

    def line(label: str, now: int, change: int) -> str:
        return f"{label:<28}{now:>10}" + (f"  ({change:+d} vs saved)" if change else "")

    for b in COUNT_KEYS:
        print(line(b.replace("_", " "), out[b], out["change"][b]))
    for nd in out["nodes"]:
        print(f"node {nd['id']} -> sequence {nd['sequence_name']} (ruleset {nd['ruleset_name']})"
              + (f", for: {nd['condition']}" if nd.get("condition") else ""))
        for b in ("reached", "not_enrolled", "active_elsewhere", "enrolled"):
            print("  " + line(b.replace("_", " "), nd[b], nd["change"][b]))
    print(f"{'exclusion':<32}{'matched':>10}{'blocking':>10}{'alone':>10}  change(alone)")
    for x in out["exclusions"]:
        print(f"{x['name'][:31]:<32}{x['matched']:>10}{x['blocking']:>10}{x['blocks_alone']:>10}"
              f"  {x['change']['blocks_alone']:+d}")
    return 0
