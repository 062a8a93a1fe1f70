"""``unify-dash bench --contacts N``: build, load and evaluate a demo workspace of N contacts, time the load,
the engine and the scheduler, each next to its floor. Its last line is one JSON object.

* ``load_s``: the fastest of ``--runs`` loads (:func:`unify_dash.io.load.load_workspace`, each into a new
  database, in a child process whose peak memory is ``load_peak_rss_mb``); ``load_median_s`` their median.
  Its floor ``raw_read_s``: DuckDB reading the same files into tables of a new database as they are
  (``CREATE TABLE AS SELECT * FROM read_csv / read_parquet``, committed), fastest of as many runs.
* ``impact_ms``: median :func:`~unify_dash.engine.impact` time over ``--repeats`` random toggle sets. Its floor
  ``impact_floor_ms``: the same toggles as bare numpy over the groups (one mask product per level, one
  weighted sum per count); ``naive_impact_ms``: the straightforward way (every rule's SQL over all contacts,
  checked to give the same numbers).
* ``explain_ms``: median :func:`~unify_dash.engine.explain` time for random contacts; ``explain_max_domain_ms``
  for contacts of the largest domain. Their floor ``explain_floor_ms``: the point query of one contact by email.
  ``explain_min_ms`` / ``explain_p90_ms`` of the random contacts, ``explain_max_domain_max_ms`` the slowest
  of the largest domain's.
* ``drilldown_ms``: median first page (50 rows) of the Play's drill-downs; ``drilldown_last_page_ms``: the
  last page of the largest count; ``drilldown_max_ms``: the slowest page timed.
* ``tick_median_s``: median hourly scheduler tick (:func:`unify_dash.scheduler.run.run_until`, one hour at a
  time) on a copy of the loaded database, after the first (``tick_first_s``).
* ``peak_rss_mb``: peak memory of the measuring process; ``loadavg``: the load average before and after.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from unify_dash import engine
from unify_dash.actions import optouts
from unify_dash.model import levels, states
from unify_dash.model import vocabulary as vocab
from unify_dash.model.levels import Levels
from unify_dash.model.settings import Settings
from unify_dash.store import db

BENCH_EXCLUSIONS = 20


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux: kilobytes


def generate(out: Path, contacts: int, seed: int, fmt: str, memory: str) -> dict:
    """Write the demo workspace (once: a complete folder is kept). Runs in a child process."""
    from unify_dash.io import demo

    marker = out / ".bench-complete"
    if marker.exists():
        return {"demo_s": None}
    started = time.perf_counter()
    demo.generate(out, contacts=contacts, seed=seed, fmt=fmt, exclusions=BENCH_EXCLUSIONS, memory_limit=memory)
    marker.write_text("ok\n")
    return {"demo_s": round(time.perf_counter() - started, 2)}


def load(out: Path, db_path: Path, contacts: int, seed: int, memory: str) -> dict:
    """Load the workspace ``out`` into a new database ``db_path`` within ``memory``. Runs in a child process,
    so that its peak memory is the load's."""
    from unify_dash.io.load import load_workspace

    for p in (db_path, Path(f"{db_path}.wal")):
        p.unlink(missing_ok=True)
    con = db.connect(db_path, memory=memory)
    try:
        started = time.perf_counter()
        load_workspace(con, out)
        load_s = time.perf_counter() - started
        db.set_meta(con, "bench_contacts", str(contacts))
        db.set_meta(con, "bench_seed", str(seed))
    finally:
        con.close()
    return {"load_s": round(load_s, 3), "peak_rss_mb": _rss_mb()}


def raw_read(out: Path, db_path: Path, memory: str) -> dict:
    """The load's floor: DuckDB reading the workspace's record files into tables of a new database as they are
    (no checks, no types beyond its own detection), committed and checkpointed. Runs in a child process."""
    import duckdb

    for p in (db_path, Path(f"{db_path}.wal")):
        p.unlink(missing_ok=True)
    files = sorted(p for p in out.iterdir() if p.suffix in (".csv", ".parquet"))
    con = duckdb.connect(str(db_path))
    try:
        con.execute(f"SET memory_limit = '{db.memory_limit(memory)}'")
        started = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        for f in files:
            reader = "read_csv" if f.suffix == ".csv" else "read_parquet"
            con.execute(f"CREATE TABLE {db.ident(f.stem)} AS SELECT * FROM {reader}(?)", [str(f)])
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        raw_s = time.perf_counter() - started
    finally:
        con.close()
    db_path.unlink(missing_ok=True)
    return {"raw_read_s": round(raw_s, 3), "peak_rss_mb": _rss_mb()}


def _child(function: str, *args) -> dict:
    """Run ``bench.<function>(*args)`` in a child process; its result (JSON) with the child's peak memory."""
    code = ("import sys, json; from pathlib import Path; from unify_dash.reports import bench; "
            f"print(json.dumps(bench.{function}(*bench._child_args(sys.argv[1:]))))")
    child = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=False)
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        raise RuntimeError(f"bench {function} failed (exit {child.returncode})")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _child_args(argv: list[str]) -> list:
    return [int(a) if a.isdigit() else Path(a) if "/" in a else a for a in argv]


# --- the straightforward what-if -----------------------------------------------------------------------------


def naive_impact_sql(settings: Settings, play_id: str, as_of, stats_table: str) -> tuple[str, list, list[str]]:
    """One query over all contacts that counts what :func:`engine.impact` counts, for ``settings`` as they
    are (the toggles already applied): re-runs every rule's SQL for every contact, Play branching (a node's
    condition, first match wins) and one active sequence at a time (queued or active in another sequence)
    included. Returns (sql, params, column names)."""
    play = settings.play(play_id)
    ex = settings.exclusions
    nodes = [(n, settings.ruleset(settings.sequence(n.sequence).ruleset)) for n in play.nodes]
    params: list = []
    aud = "TRUE"
    if play.audience is not None:  # first: the audience comes first in the query text
        aud, p = vocab.compile_sql(play.audience, as_of)
        params.extend(p)
    crit, filt = [], []
    for e in ex:
        sql, p = vocab.compile_sql(e.criteria, as_of)
        crit.append(sql)
        params.extend(p)
    for e in ex:
        parts = []
        for f in e.filters:
            sql, p = vocab.compile_sql(f, as_of)
            parts.append(sql)
            params.extend(p)
        filt.append(" AND ".join(parts) if parts else "TRUE")
    conds = []  # Play branching: each node's condition (TRUE without one)
    for nd, _rs in nodes:
        sql, p = ("TRUE", []) if nd.condition is None else vocab.compile_sql(nd.condition, as_of)
        conds.append(sql)
        params.extend(p)
    n = len(ex)
    base_cols = ", ".join([f"{crit[i]} AS k{i}" for i in range(n)] + [f"{filt[i]} AS f{i}" for i in range(n)]
                          + [f"({c}) AS cond{k}" for k, c in enumerate(conds)])
    m_cols = ", ".join(
        [(f"((CASE WHEN domain IS NULL THEN k{i} ELSE bool_or(k{i}) OVER (PARTITION BY domain) END) AND f{i}) AS m{i}"
          if e.company_wide else f"(k{i} AND f{i}) AS m{i}") for i, e in enumerate(ex)]
        # the first node whose condition the contact meets (every node when the Play does not branch)
        + [(f"(cond{k}{''.join(f' AND NOT cond{j}' for j in range(k))}) AS route{k}" if play.branching
            else f"TRUE AS route{k}") for k in range(len(nodes))])
    # one active sequence at a time: queued or active in a sequence other than the node's (the
    # enrollments are read only when the setting is on)
    one_active = settings.one_active_sequence and bool(nodes)
    busy = [(f"coalesce(bz.other{k}, FALSE)" if one_active else "FALSE") + f" AS busy{k}"
            for k in range(len(nodes))]
    seq_ids = [sq.id for sq in settings.sequences]
    bz_cols = ", ".join(f"bool_or(sequence_id <> ?) AS other{k}" for k in range(len(nodes)))
    levels = Levels(settings)
    aud_on = np.flatnonzero(levels.audiences[play.id]).tolist()
    node_on = [np.flatnonzero(levels.node(rs.id)).tolist() for _n, rs in nodes]

    def any_of(ix):
        return "(" + " OR ".join(f"m{i}" for i in ix) + ")" if ix else "FALSE"

    def count_of(ix):
        return "(" + " + ".join(f"m{i}::INT" for i in ix) + ")" if ix else "0"

    flags = [f"{any_of(aud_on)} AS excl_aud"] + [f"{any_of(ix)} AS blk{k}" for k, ix in enumerate(node_on)]
    sole = [f"({count_of(sorted(set(aud_on) | set(ix)))} = 1 AND route{k} AND NOT busy{k}) AS sole{k}"
            for k, ix in enumerate(node_on)]
    if not nodes:
        sole = [f"({count_of(aud_on)} = 1) AS sole_a"]
    aggs, names = [], []

    def agg(name, cond):
        aggs.append(f"count(*) FILTER (WHERE {cond})")
        names.append(name)

    agg("entered", "aud")
    agg("opted_out", "aud AND opted")
    agg("excluded_at_audience", "live AND excl_aud")
    agg("reached", "live AND NOT excl_aud")
    for k, (nd, _rs) in enumerate(nodes):
        agg(f"{nd.id}:not_enrolled", f"live AND NOT excl_aud AND route{k} AND (blk{k} OR busy{k})")
        agg(f"{nd.id}:enrolled", f"live AND NOT excl_aud AND route{k} AND NOT blk{k} AND NOT busy{k}")
    for i, e in enumerate(ex):
        agg(f"{e.id}:matched", f"live AND m{i}")
        at_nodes = [f"route{k}" for k, ix in enumerate(node_on) if i in ix]
        agg(f"{e.id}:blocking", f"live AND m{i} AND ({'TRUE' if i in aud_on else 'FALSE'} OR "
                                f"(NOT excl_aud AND ({' OR '.join(at_nodes) if at_nodes else 'FALSE'})))")
        released = [f"sole{k}" for k, ix in enumerate(node_on) if i in set(aud_on) | set(ix)]
        if not nodes and i in aud_on:
            released = ["sole_a"]
        agg(f"{e.id}:blocks_alone", f"live AND m{i} AND ({' OR '.join(released) if released else 'FALSE'})")
    busy_from = ""
    if one_active:
        busy_from = (f" LEFT JOIN (SELECT contact_id, {bz_cols} FROM enrollments WHERE state IN {states.ACTIVE_SQL}"
                     f" AND sequence_id IN ({', '.join('?' for _ in seq_ids) or 'NULL'}) GROUP BY contact_id) bz ON bz.contact_id = m.contact_id")
    sql = f"""
WITH base AS (SELECT c.contact_id, c.domain, {aud} AS aud{', ' + base_cols if base_cols else ''}
              FROM {vocab.base_from(stats_table)}),
m AS (SELECT contact_id, aud{', ' + m_cols if m_cols else ''} FROM base),
x AS (SELECT m.*, o.contact_id IS NOT NULL AS opted{''.join(', ' + b for b in busy)} FROM m
      LEFT JOIN ({optouts.opted_out_relation(settings)}) o ON o.contact_id = m.contact_id{busy_from}),
y AS (SELECT *, aud AND NOT opted AS live, {', '.join(flags + sole)} FROM x)
SELECT {', '.join(aggs)} FROM y"""
    params.append(as_of)  # the opted-out relation's
    if one_active:  # the enrollments subquery's
        params.extend(settings.sequence(nd.sequence).id for nd, _rs in nodes)
        params.extend(seq_ids)
    return sql, params, names


def naive_impact(con, ev: engine.Evaluation, play_id: str, toggles: dict) -> dict:
    sql, params, names = naive_impact_sql(levels.with_toggles(ev.settings, toggles), play_id, ev.as_of, ev.stats_table)
    row = con.execute(sql, params).fetchone()
    return dict(zip(names, row, strict=True))


def _fast_numbers(imp: dict) -> dict:
    out = {k: imp[k] for k in ("entered", "opted_out", "excluded_at_audience", "reached")}
    for nd in imp["nodes"]:
        out[f"{nd['id']}:not_enrolled"] = nd["not_enrolled"]
        out[f"{nd['id']}:enrolled"] = nd["enrolled"]
    for x in imp["exclusions"]:
        for key in ("matched", "blocking", "blocks_alone"):
            out[f"{x['id']}:{key}"] = x[key]
    return out


def random_toggles(rng: random.Random, ev: engine.Evaluation, play_id: str) -> dict:
    _, play = ev.play(play_id)
    rulesets = sorted({ev.settings.sequence(n.sequence).ruleset for n in play.nodes})
    out = {}
    for _ in range(rng.randint(1, 4)):
        x = rng.choice(ev.exclusion_ids)
        level = rng.choice(["audience", "organisation", "ruleset"] if rulesets else ["audience", "organisation"])
        target = play.id if level == "audience" else (rng.choice(rulesets) if level == "ruleset" else None)
        out[(x, level, target)] = rng.random() < 0.5
    return out


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


# --- the benchmark ---------------------------------------------------------------------------------------


def impact_floor(ev: engine.Evaluation, play_id: str, toggle_sets: list[dict]) -> list[float]:
    """The floor of a what-if, timed per toggle set: bare numpy over the groups, one mask product per level
    (the Play's audience and each node) and one weighted sum per count :func:`engine.impact` returns. The
    toggled level vectors are made beforehand (not timed)."""
    j, play = ev.play(play_id)
    live = ev.audience[:, j] & ~ev.opted
    m = ev.matches.astype(np.float32)
    vectors = []
    for t in toggle_sets:
        s = levels.with_toggles(ev.settings, t)
        lv = Levels(s)
        vectors.append([lv.audiences[play.id].astype(np.float32)]
                       + [lv.node(s.sequence(n.sequence).ruleset).astype(np.float32) for n in play.nodes])
    times = []
    for aud, *nodes in vectors:
        t0 = time.perf_counter()
        reached = live & ((m @ aud) == 0)
        counts = [ev._weights @ reached, ev._weights @ (m * live[:, None])]
        counts += [ev._weights @ (reached & ((m @ v) > 0)) for v in nodes]
        times.append(time.perf_counter() - t0)
    return times


def _engine_figures(con, ev: engine.Evaluation, rng: random.Random, repeats: int, log) -> dict:
    sizes = {p: engine.impact(ev, p)["entered"] for p in ev.play_ids}
    play_id = max(ev.play_ids, key=lambda p: (len(ev.settings.play(p).nodes), sizes[p]))
    toggle_sets = [random_toggles(rng, ev, play_id) for _ in range(repeats)]
    impact_ms = _median_ms(_timed(lambda t: engine.impact(ev, play_id, t), toggle_sets))
    floor_ms = _median_ms(impact_floor(ev, play_id, toggle_sets))
    log(f"impact (what-if) on play {play_id}: median {impact_ms} ms over {repeats} toggle sets "
        f"(numpy floor {floor_ms} ms)")
    naive_runs = 5 if ev.contacts <= 2_000_000 else 3
    naive_times, agree = [], True
    for t in toggle_sets[:naive_runs]:
        t0 = time.perf_counter()
        slow = naive_impact(con, ev, play_id, t)
        naive_times.append(time.perf_counter() - t0)
        agree = agree and slow == _fast_numbers(engine.impact(ev, play_id, t))
    naive_ms = _median_ms(naive_times)
    log(f"straightforward what-if (rule SQL over all contacts): median {naive_ms} ms over {naive_runs} runs; "
        f"same numbers: {agree}")
    return {"play": play_id, "impact_ms": impact_ms, "impact_floor_ms": floor_ms, "naive_impact_ms": naive_ms,
            "naive_same_numbers": agree, "impact_speedup": round(naive_ms / impact_ms, 1) if impact_ms else None}


def _timed(call, items, cpu: list | None = None) -> list[float]:
    """Wall seconds of ``call(item)`` per item (and the process's CPU seconds of each into ``cpu``: on a
    shared machine the wall time also counts the waits for a core, the CPU time only the work)."""
    times = []
    for item in items:
        c0, t0 = time.process_time(), time.perf_counter()
        call(item)
        times.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.process_time() - c0)
    return times


def _explain_figures(con, log) -> dict:
    emails = [r[0] for r in con.execute(
        "SELECT email FROM contacts USING SAMPLE reservoir(60 ROWS) REPEATABLE (7)").fetchall()]
    big = con.execute("SELECT domain, count(*) FROM contacts WHERE domain IS NOT NULL GROUP BY domain "
                      "ORDER BY count(*) DESC, domain LIMIT 1").fetchone()
    in_big = [r[0] for r in con.execute("SELECT email FROM contacts WHERE domain = ? ORDER BY email LIMIT 10",
                                        [big[0]]).fetchall()] if big else []
    engine.explain(con, emails[0])  # warm-up
    cpu: list[float] = []
    times = _timed(lambda e: engine.explain(con, e), emails[1:], cpu)
    explain_ms = _median_ms(times)
    big_times = _timed(lambda e: engine.explain(con, e), in_big) if in_big else []
    max_domain_ms = _median_ms(big_times) if in_big else None
    floor_ms = _median_ms(_timed(lambda e: con.execute("SELECT * FROM contacts WHERE email = ?", [e]).fetchall(),
                                 emails[1:]))
    log(f"explain: median {explain_ms} ms over {len(emails) - 1} random contacts; {max_domain_ms} ms in the largest "
        f"domain ({big[1] if big else 0:,} contacts); the point query {floor_ms} ms")
    return {"explain_ms": explain_ms, "explain_min_ms": round(min(times) * 1000, 2), "explain_cpu_ms": _median_ms(cpu),
            "explain_p90_ms": round(float(np.percentile(times, 90)) * 1000, 2),
            "explain_max_domain_ms": max_domain_ms, "explain_max_domain_max_ms":
                round(max(big_times) * 1000, 2) if big_times else None,
            "explain_floor_ms": floor_ms, "max_domain_contacts": big[1] if big else 0}


def _drilldown_figures(con, ev: engine.Evaluation, play_id: str, log) -> dict:
    _, play = ev.play(play_id)
    asks = [("entered", None, None), ("excluded_at_audience", None, None), ("reached", None, None)]
    asks += [(b, n.id, None) for n in play.nodes for b in ("not_enrolled", "enrolled")]
    asks += [(b, None, x) for x in ev.exclusion_ids[:4] for b in ("matched", "blocks_alone")]
    times = _timed(lambda a: engine.drilldown(con, ev, play_id, a[0], node_id=a[1], exclusion_id=a[2], limit=50), asks)
    first_ms = _median_ms(times)
    totals = [(engine.drilldown(con, ev, play_id, b, node_id=n, exclusion_id=x, limit=0)["total"], (b, n, x))
              for b, n, x in asks]
    total, (b, n, x) = max(totals, key=lambda t: t[0])
    last = max(total - 50, 0)
    last_times = _timed(lambda _i: engine.drilldown(con, ev, play_id, b, node_id=n, exclusion_id=x,
                                                    offset=last, limit=50), range(3))
    last_ms = _median_ms(last_times)
    log(f"drill-down first page: median {first_ms} ms over {len(asks)} counts (max {max(times) * 1000:.1f}); "
        f"last page of {b} ({total:,} contacts): {last_ms} ms")
    return {"drilldown_ms": first_ms, "drilldown_last_page_ms": last_ms, "drilldown_last_page_total": total,
            "drilldown_max_ms": round(max(times + last_times) * 1000, 2)}  # the slowest page timed


def run(db_path: Path, *, repeats: int = 200, seed: int = 7, log=print) -> dict:
    """Time the engine on a loaded database. Returns the figures (without build times)."""
    rng = random.Random(seed)
    con = db.connect(db_path)
    try:
        contacts = con.execute("SELECT count(*) FROM contacts").fetchone()[0]
        started = time.perf_counter()
        ev = engine.evaluate(con)
        evaluate_s = time.perf_counter() - started
        log(f"evaluated {contacts:,} contacts in {evaluate_s:.2f} s: {ev.groups:,} groups, "
            f"{len(ev.exclusion_ids)} exclusions, {len(ev.play_ids)} plays")
        out = {"contacts": contacts, "evaluate_s": round(evaluate_s, 3), "groups": ev.groups,
               "exclusions": len(ev.exclusion_ids), "repeats": repeats}
        out.update(_engine_figures(con, ev, rng, repeats, log))
        out.update(_explain_figures(con, log))
        out.update(_drilldown_figures(con, ev, out["play"], log))
        out["peak_rss_mb"] = _rss_mb()
        return out
    finally:
        con.close()


def ticks(db_path: Path, scratch: Path, count: int = 6, log=print) -> dict:
    """Hourly scheduler ticks on a copy of the loaded database (the bench's own stays as loaded): ``count``
    calls of :func:`unify_dash.scheduler.run.run_until`, one hour each. The first (a full entry pass) is
    ``tick_first_s``; ``tick_median_s`` is the median of the others; the copy's growth is ``tick_db_growth_mb``."""
    import datetime as dt

    from unify_dash.scheduler import run as scheduler

    shutil.copyfile(db_path, scratch)
    size0 = scratch.stat().st_size
    con = db.connect(scratch)
    try:
        times, sent = [], 0
        for _ in range(count):
            until = db.now(con) + dt.timedelta(hours=1)
            t0 = time.perf_counter()
            summary = scheduler.run_until(con, until, tick=dt.timedelta(hours=1))
            times.append(time.perf_counter() - t0)
            sent += int(summary.get("sends", 0) or 0)
    finally:
        con.close()
    growth = (scratch.stat().st_size - size0) / 1e6
    scratch.unlink(missing_ok=True)
    Path(f"{scratch}.wal").unlink(missing_ok=True)
    median = round(statistics.median(times[1:]), 3) if len(times) > 1 else None
    log(f"hourly ticks: first {times[0]:.2f} s, then median {median} s over {len(times) - 1} ticks "
        f"({sent:,} sent; the database grew {growth:.1f} MB)")
    return {"tick_first_s": round(times[0], 3), "tick_median_s": median, "ticks": len(times),
            "tick_db_growth_mb": round(growth, 1)}


def _without_timing(out: dict) -> dict:
    return {k: v for k, v in out.items() if k != "evaluate_s"}


def run_spark(db_path: Path, lake_dir: Path, *, master: str, repeats: int = 200, seed: int = 7, log=print) -> dict:
    """The same figures with the evaluation pass on Spark over a lake exported from ``db_path``, next to
    DuckDB's evaluation of the same database, and whether every Play's impact is the same on both."""
    from unify_dash.engine import spark
    from unify_dash.io.lake import export_lake

    rng = random.Random(seed)
    con = db.connect(db_path)
    try:
        t0 = time.perf_counter()
        export_lake(con, lake_dir)
        export_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        duck = engine.evaluate(con)
        duckdb_s = time.perf_counter() - t0
        log(f"exported the lake in {export_s:.2f} s; DuckDB evaluated {duck.contacts:,} contacts in {duckdb_s:.2f} s")
        t0 = time.perf_counter()
        lake = spark.Lake(lake_dir, master=master)
        session_s = time.perf_counter() - t0
        times = []
        for _ in range(2):  # the first pass also warms the JVM up
            t0 = time.perf_counter()
            ev = spark.evaluate_lake(lake)
            times.append(time.perf_counter() - t0)
            if len(times) == 1:
                first = ev
        log(f"Spark ({master}) started in {session_s:.1f} s; evaluated in {times[0]:.2f} s, again in {times[1]:.2f} s"
            f": {ev.groups:,} groups")
        first.store.drop()
        same = all(_without_timing(engine.impact(ev, p)) == _without_timing(engine.impact(duck, p))
                   for p in ev.play_ids)
        play_id = max(ev.play_ids, key=lambda p: (len(ev.settings.play(p).nodes), engine.impact(ev, p)["entered"]))
        toggle_sets = [random_toggles(rng, ev, play_id) for _ in range(repeats)]
        same = same and all(_without_timing(engine.impact(ev, play_id, t)) ==
                            _without_timing(engine.impact(duck, play_id, t)) for t in toggle_sets[:20])
        times_i = []
        for t in toggle_sets:
            t0 = time.perf_counter()
            engine.impact(ev, play_id, t)
            times_i.append(time.perf_counter() - t0)
        emails = [r[0] for r in con.execute(
            "SELECT email FROM contacts USING SAMPLE reservoir(6 ROWS) REPEATABLE (7)").fetchall()]
        times_e = []
        for email in emails:
            t0 = time.perf_counter()
            spark.explain_lake(lake, email, ev=ev)
            times_e.append(time.perf_counter() - t0)
        times_d = []
        for bucket in ("entered", "excluded_at_audience", "reached"):
            t0 = time.perf_counter()
            engine.drilldown(None, ev, play_id, bucket, limit=50)
            times_d.append(time.perf_counter() - t0)
        log(f"same impact as DuckDB for every play and 20 toggle sets: {same}; explain median "
            f"{_median_ms(times_e)} ms; drill-down first page median {_median_ms(times_d)} ms")
        ev.store.drop()
        return {"engine": "spark", "spark_master": master, "contacts": ev.contacts, "export_lake_s": round(export_s, 3),
                "duckdb_evaluate_s": round(duckdb_s, 3), "spark_session_s": round(session_s, 3),
                "evaluate_s": round(times[1], 3), "evaluate_first_s": round(times[0], 3),
                "impact_ms": _median_ms(times_i), "explain_ms": _median_ms(times_e),
                "drilldown_ms": _median_ms(times_d), "groups": ev.groups, "exclusions": len(ev.exclusion_ids),
                "play": play_id, "same_as_duckdb": same, "peak_rss_mb": _rss_mb(), "repeats": repeats}
    finally:
        con.close()


def _loads(out: Path, db_path: Path, contacts: int, seed: int, memory: str, runs: int, log) -> dict:
    """``runs`` loads and as many raw reads of the same files, alternated (each in a child process)."""
    loads, raws = [], []
    for i in range(runs):
        raws.append(_child("raw_read", out, db_path.with_name(f"raw-{db_path.name}"), memory))
        loads.append(_child("load", out, db_path, contacts, seed, memory))
        log(f"run {i + 1}: load {loads[-1]['load_s']} s (peak {loads[-1]['peak_rss_mb']:,} MB), "
            f"raw read {raws[-1]['raw_read_s']} s (peak {raws[-1]['peak_rss_mb']:,} MB); load average "
            f"{os.getloadavg()[0]:.1f}")
    load_s = [r["load_s"] for r in loads]
    raw_s = [r["raw_read_s"] for r in raws]
    return {"load_s": min(load_s), "load_median_s": round(statistics.median(load_s), 3), "load_runs": load_s,
            "raw_read_s": min(raw_s), "raw_read_median_s": round(statistics.median(raw_s), 3), "raw_read_runs": raw_s,
            "load_peak_rss_mb": max(r["peak_rss_mb"] for r in loads),
            "raw_read_peak_rss_mb": max(r["peak_rss_mb"] for r in raws), "memory_limit": memory}


def _ratio(a, b):
    return round(a / b, 1) if a is not None and b else None


def ratio_table(f: dict) -> list[str]:
    """Each figure beside its floor, and their ratio."""
    rows = [("load (s)", f.get("load_s"), "DuckDB raw read", f.get("raw_read_s")),
            ("load peak memory (MB)", f.get("load_peak_rss_mb"), "raw read", f.get("raw_read_peak_rss_mb")),
            ("impact (ms)", f.get("impact_ms"), "numpy over groups", f.get("impact_floor_ms")),
            ("naive impact (ms)", f.get("naive_impact_ms"), "impact", f.get("impact_ms")),
            ("explain (ms)", f.get("explain_ms"), "point query", f.get("explain_floor_ms")),
            ("explain, largest domain (ms)", f.get("explain_max_domain_ms"), "point query", f.get("explain_floor_ms")),
            ("drill-down first page (ms)", f.get("drilldown_ms"), "", None),
            ("drill-down last page (ms)", f.get("drilldown_last_page_ms"), "first page", f.get("drilldown_ms")),
            ("hourly tick, median (s)", f.get("tick_median_s"), "", None)]
    out = [f"{'figure':30} {'value':>12} {'floor':>20} {'':>10} {'ratio':>7}"]
    for name, value, floor_name, floor in rows:
        if value is None:
            continue
        ratio = _ratio(value, floor)
        out.append(f"{name:30} {value:>12} {floor_name:>20} {'' if floor is None else floor:>10} "
                   f"{'' if ratio is None else f'{ratio}x':>7}")
    return out


def cli_bench(args) -> int:
    """``unify-dash bench [--contacts N] [--seed S] [--workdir DIR] [--repeats R] [--runs N] [--format csv|parquet]
    [--memory-limit SIZE] [--engine duckdb|spark] [--spark-master URL] [--lake DIR]``."""
    contacts, seed = int(args.contacts), int(getattr(args, "seed", 7))
    fmt, runs = getattr(args, "format", "csv"), int(getattr(args, "runs", 1))
    memory = db.memory_limit(getattr(args, "memory_limit", None))
    load_memory = db.memory_limit(getattr(args, "memory_limit", None), load=True)  # the load and its floor
    temporary = getattr(args, "workdir", None) is None
    workdir = (Path(tempfile.mkdtemp(prefix="unify-bench-")) if temporary else Path(args.workdir)).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    out, db_path = workdir / f"demo-{contacts}-{seed}-{fmt}", workdir / f"bench-{contacts}-{seed}-{fmt}.duckdb"
    figures: dict = {"loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    try:
        if runs < 1 and db_path.exists() and _built(db_path, contacts, seed):
            figures.update({"reused": True, "demo_s": None, "load_s": None})
            print(f"reusing {db_path}")
        else:
            print(f"building a demo workspace of {contacts:,} contacts ({BENCH_EXCLUSIONS} exclusions, {fmt}) "
                  f"in {workdir}; memory limit {memory}")
            figures.update(_child("generate", out, contacts, seed, fmt, memory))
            print("demo " + ("reused" if figures["demo_s"] is None else f"written in {figures['demo_s']} s"))
            figures.update(_loads(out, db_path, contacts, seed, load_memory, max(runs, 1), print))
            figures["load_ratio"] = _ratio(figures["load_s"], figures["raw_read_s"])
        if getattr(args, "engine", "duckdb") == "spark":
            lake_dir = Path(args.lake) if getattr(args, "lake", None) else workdir / f"lake-{contacts}-{seed}"
            figures.update(run_spark(db_path, lake_dir, master=getattr(args, "spark_master", None) or "local[*]",
                                     repeats=int(getattr(args, "repeats", 200)), seed=seed))
        else:
            figures.update(run(db_path, repeats=int(getattr(args, "repeats", 200)), seed=seed))
            figures.update(ticks(db_path, workdir / f"ticks-{db_path.name}"))
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    figures["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    for line in ratio_table(figures):
        print(line)
    print(json.dumps(figures))
    return 0


def _built(db_path: Path, contacts: int, seed: int) -> bool:
    try:
        con = db.connect(db_path)
    except Exception:  # pragma: no cover - a broken file is rebuilt
        return False
    try:
        return db.get_meta(con, "bench_contacts") == str(contacts) and db.get_meta(con, "bench_seed") == str(seed)
    finally:
        con.close()
