"""What the scheduler did and will do: ``unify-dash status`` and the Data page's panel.

The ticks come from the database (every tick writes its decisions to ``execution_log`` at the
tick's time, whoever ran it: the worker, ``unify-dash sends`` or the Data page), so they are the
same with or without a service. The service part (pid, port, the worker's next wake, its runs and
errors) is live state of the service process: present when the status is asked of the service.
"""

from __future__ import annotations

import datetime as dt

from unify_dash.scheduler import outbox
from unify_dash.service.worker import MARK, clock_mode, wall_clock
from unify_dash.store import db

RECENT = 10
_SENT, _NEW = ("sent",), ("enrolled", "not_enrolled")


def recent_ticks(con, limit: int = RECENT) -> list[dict]:
    """The last ``limit`` tick times with their decisions: sends, skips (every other send-time
    outcome), entries (enrolled, not enrolled) and the counts by outcome."""
    rows = db.rows(con, """
        WITH t AS (SELECT DISTINCT "at" FROM execution_log ORDER BY "at" DESC LIMIT ?)
        SELECT l."at", l.outcome, count(*) AS n FROM execution_log l JOIN t USING ("at")
        GROUP BY ALL ORDER BY l."at" DESC, n DESC""", [limit])
    ticks: dict[dt.datetime, dict] = {}
    for r in rows:
        tick = ticks.setdefault(r["at"], {"at": r["at"].isoformat(sep=" "), "sends": 0, "skips": 0, "entries": 0,
                                          "outcomes": {}})
        tick["outcomes"][r["outcome"]] = int(r["n"])
        key = "sends" if r["outcome"] in _SENT else "entries" if r["outcome"] in _NEW else "skips"
        tick[key] += int(r["n"])
    return list(ticks.values())


def database_status(con) -> dict:
    """The scheduler's state as the database records it (no service needed)."""
    mode, clock = clock_mode(con, wall_clock())
    runs = db.rows(con, """SELECT "at", detail FROM audit_log WHERE action = 'sends.run'
                             ORDER BY "at" DESC LIMIT 1""")
    sends = con.execute("SELECT (SELECT count(*) FROM events WHERE type = 'send'), "
                        "(SELECT count(*) FROM execution_log WHERE outcome = 'sent')").fetchone()
    return {"clock": db.now(con).isoformat(sep=" "), "clock_mode": mode,
            "send_events": int(sends[0]), "sent_log_rows": int(sends[1]), "outbox_pending": int(outbox.pending(con)),
            "real_clock_from": db.get_meta(con, MARK), "pinned_clock": clock.isoformat(sep=" ") if clock else None,
            "last_tick": (recent_ticks(con, 1) or [None])[0], "recent_ticks": recent_ticks(con),
            "last_run": ({"at": runs[0]["at"].isoformat(sep=" "), "detail": runs[0]["detail"]} if runs else None)}


def format_status(s: dict) -> str:
    d = s["database"]
    lines = [f"database {s['db']}: workspace clock {d['clock']} ({d['clock_mode']})"]
    svc = s.get("service")
    if not svc:
        lines.append("service: not running (the CLI opens the database directly)")
    else:
        w = svc["worker"]
        lines.append(f"service: pid {svc['pid']}, API 127.0.0.1:{svc['port']}, app port {svc.get('app_port')}, "
                     f"up since {svc['started_at']}")
        when = ("ticks only when asked (the clock is pinned)" if w["mode"] == "pinned"
                else f"next wake {w['next_wake']} (every {w['every_seconds']:.0f} s)")
        lines.append(f"worker: {w['mode']} clock, {when}; consecutive failures {w['consecutive_failures']}")
        if w["last_run"]:
            r = w["last_run"]
            lines.append(f"  last run {r['at']}: {r['from']} -> {r['until']}, {r['ticks']} ticks, {r['sends']} sends, "
                         f"{r['skips']} skips, {r['seconds']} s")
        for e in w["errors"][:3]:
            lines.append(f"  error at {e['at']}: {e['error']}")
    if d["outbox_pending"]:
        lines.append(f"outbox: {d['outbox_pending']} messages decided, not yet delivered (the next run delivers them)")
    lines.append("recent ticks:" if d["recent_ticks"] else "recent ticks: none yet")
    for t in d["recent_ticks"]:
        lines.append(f"  {t['at']}  sends {t['sends']:>6}  skips {t['skips']:>6}  entries {t['entries']:>6}")
    return "\n".join(lines)
