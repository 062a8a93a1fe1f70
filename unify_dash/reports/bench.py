"""``unify-dash bench --contacts N``: build, load and evaluate a demo workspace of N contacts, then time
the engine. Its last line is one JSON object:

``contacts, evaluate_s, impact_ms, naive_impact_ms, explain_ms, drilldown_ms, peak_rss_mb`` plus extras
(``demo_s``, ``load_s``, ``groups``, ``exclusions``, ``impact_speedup``, ``build_peak_rss_mb``, ...).

* ``evaluate_s``: one full evaluation (:func:`unify_dash.engine.evaluate`, uncached).
* ``impact_ms``: median :func:`~unify_dash.engine.impact` time over ``--repeats`` random toggle sets.
* ``naive_impact_ms``: the same what-if done the straightforward way, in the same run: the settings with
  the toggles applied, every rule's SQL re-run over all contacts in one query that counts the same
  numbers (checked equal to the fast answer).
* ``explain_ms``: median :func:`~unify_dash.engine.explain` time for random contacts.
* ``drilldown_ms``: median time of the first page (50 rows) of drill-downs of the Play's counts.
* ``peak_rss_mb``: peak resident memory of this process (evaluation and measurements). The demo is
  generated and loaded in a child process (``build_peak_rss_mb``), so that its memory does not hide
  the engine's.
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
from unify_dash.model import levels
from unify_dash.model import vocabulary as vocab
from unify_dash.model.levels import Levels
from unify_dash.model.settings import Settings
from unify_dash.store import db

BENCH_EXCLUSIONS = 20


def build_memory(contacts: int) -> str:
    """DuckDB memory limit while generating and loading the demo (the load is one transaction, which
    must fit at commit): 4 GB, 1.2 GB per million contacts beyond that, at most 60% of the machine."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{max(4, min(int(1.2 * contacts / 1_000_000) + 1, int(total * 0.6)))}GB"


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux: kilobytes


def build(out: Path, db_path: Path, contacts: int, seed: int) -> dict:
    """Generate the demo workspace (parquet) and load it into ``db_path``. Runs in a child process."""
    from unify_dash.io import demo
    from unify_dash.io.load import load_workspace

    memory = build_memory(contacts)
    started = time.perf_counter()
    marker = out / ".bench-complete"
    if marker.exists():  # a workdir kept from an earlier run: the folder is complete
        demo_s = None
    else:
        demo.generate(out, contacts=contacts, seed=seed, fmt="parquet", exclusions=BENCH_EXCLUSIONS,
                      memory_limit=memory)
        marker.write_text("ok\n")
        demo_s = round(time.perf_counter() - started, 2)
    if db_path.exists():
        db_path.unlink()
    con = db.connect(db_path)
    try:
        con.execute("SET memory_limit = ?", [memory])  # a good neighbour: DuckDB spills beyond it
        started = time.perf_counter()
        load_workspace(con, out)
        load_s = time.perf_counter() - started
        db.set_meta(con, "bench_contacts", str(contacts))
        db.set_meta(con, "bench_seed", str(seed))
    finally:
        con.close()
    return {"demo_s": demo_s, "load_s": round(load_s, 2), "build_peak_rss_mb": _rss_mb()}


# --- the straightforward what-if -----------------------------------------------------------------------------


def naive_impact_sql(settings: Settings, play_id: str, as_of, stats_table: str) -> tuple[str, list, list[str]]:
    """One query over all contacts that counts what :func:`engine.impact` counts, for ``settings`` as they
    are (the toggles already applied): re-runs every rule's SQL for every contact. Returns
    (sql, params, column names)."""
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
    n = len(ex)
    base_cols = ", ".join([f"{crit[i]} AS k{i}" for i in range(n)] + [f"{filt[i]} AS f{i}" for i in range(n)])
    m_cols = ", ".join(
        (f"((CASE WHEN domain IS NULL THEN k{i} ELSE bool_or(k{i}) OVER (PARTITION BY domain) END) AND f{i}) AS m{i}"
         if e.company_wide else f"(k{i} AND f{i}) AS m{i}") for i, e in enumerate(ex))
    levels = Levels(settings)
    aud_on = np.flatnonzero(levels.audiences[play.id]).tolist()
    node_on = [np.flatnonzero(levels.node(rs.id)).tolist() for _n, rs in nodes]

    def any_of(ix):
        return "(" + " OR ".join(f"m{i}" for i in ix) + ")" if ix else "FALSE"

    def count_of(ix):
        return "(" + " + ".join(f"m{i}::INT" for i in ix) + ")" if ix else "0"

    flags = [f"{any_of(aud_on)} AS excl_aud"] + [f"{any_of(ix)} AS blk{k}" for k, ix in enumerate(node_on)]
    sole = [f"({count_of(sorted(set(aud_on) | set(ix)))} = 1) AS sole{k}" for k, ix in enumerate(node_on)]
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
        agg(f"{nd.id}:not_enrolled", f"live AND NOT excl_aud AND blk{k}")
        agg(f"{nd.id}:enrolled", f"live AND NOT excl_aud AND NOT blk{k}")
    for i, e in enumerate(ex):
        agg(f"{e.id}:matched", f"live AND m{i}")
        at_node = any(i in ix for ix in node_on)
        agg(f"{e.id}:blocking", f"live AND m{i} AND ({'TRUE' if i in aud_on else 'FALSE'} OR "
                                f"(NOT excl_aud AND {'TRUE' if at_node else 'FALSE'}))")
        released = [f"sole{k}" for k, ix in enumerate(node_on) if i in set(aud_on) | set(ix)]
        if not nodes and i in aud_on:
            released = ["sole_a"]
        agg(f"{e.id}:blocks_alone", f"live AND m{i} AND ({' OR '.join(released) if released else 'FALSE'})")
    sql = f"""
WITH base AS (SELECT c.contact_id, c.domain, {aud} AS aud{', ' + base_cols if n else ''}
              FROM {vocab.base_from(stats_table)}),
m AS (SELECT contact_id, aud{', ' + m_cols if n else ''} FROM base),
x AS (SELECT m.*, o.contact_id IS NOT NULL AS opted FROM m
      LEFT JOIN ({optouts.opted_out_relation(settings)}) o ON o.contact_id = m.contact_id),
y AS (SELECT *, aud AND NOT opted AS live, {', '.join(flags + sole)} FROM x)
SELECT {', '.join(aggs)} FROM y"""
    params.append(as_of)
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
        sizes = {p: engine.impact(ev, p)["entered"] for p in ev.play_ids}
        play_id = max(ev.play_ids, key=lambda p: (len(ev.settings.play(p).nodes), sizes[p]))

        toggle_sets = [random_toggles(rng, ev, play_id) for _ in range(repeats)]
        times = []
        for t in toggle_sets:
            t0 = time.perf_counter()
            engine.impact(ev, play_id, t)
            times.append(time.perf_counter() - t0)
        impact_ms = _median_ms(times)
        log(f"impact (what-if) on play {play_id}: median {impact_ms} ms over {repeats} toggle sets")

        naive_runs = 5 if contacts <= 2_000_000 else 3
        naive_times, agree = [], True
        for t in toggle_sets[:naive_runs]:
            t0 = time.perf_counter()
            slow = naive_impact(con, ev, play_id, t)
            naive_times.append(time.perf_counter() - t0)
            agree = agree and slow == _fast_numbers(engine.impact(ev, play_id, t))
        naive_ms = _median_ms(naive_times)
        log(f"straightforward what-if (rule SQL over all contacts): median {naive_ms} ms over {naive_runs} runs; "
            f"same numbers: {agree}")

        emails = [r[0] for r in con.execute(
            "SELECT email FROM contacts USING SAMPLE reservoir(60 ROWS) REPEATABLE (7)").fetchall()]
        engine.explain(con, emails[0])  # warm-up
        times = []
        for email in emails[1:]:
            t0 = time.perf_counter()
            engine.explain(con, email)
            times.append(time.perf_counter() - t0)
        explain_ms = _median_ms(times)
        log(f"explain: median {explain_ms} ms over {len(times)} random contacts")

        _, play = ev.play(play_id)
        asks = [("entered", None, None), ("excluded_at_audience", None, None), ("reached", None, None)]
        asks += [(b, n.id, None) for n in play.nodes for b in ("not_enrolled", "enrolled")]
        asks += [(b, None, x) for x in ev.exclusion_ids[:4] for b in ("matched", "blocks_alone")]
        times = []
        for bucket, node, excl in asks:
            t0 = time.perf_counter()
            engine.drilldown(con, ev, play_id, bucket, node_id=node, exclusion_id=excl, limit=50)
            times.append(time.perf_counter() - t0)
        drilldown_ms = _median_ms(times)
        log(f"drill-down first page: median {drilldown_ms} ms over {len(asks)} counts (max {max(times) * 1000:.1f})")
        return {"contacts": contacts, "evaluate_s": round(evaluate_s, 3), "impact_ms": impact_ms,
                "naive_impact_ms": naive_ms, "explain_ms": explain_ms, "drilldown_ms": drilldown_ms,
                "peak_rss_mb": _rss_mb(), "groups": ev.groups, "exclusions": len(ev.exclusion_ids),
                "play": play_id, "impact_speedup": round(naive_ms / impact_ms, 1) if impact_ms else None,
                "naive_same_numbers": agree, "repeats": repeats}
    finally:
        con.close()


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


def cli_bench(args) -> int:
    """``unify-dash bench [--contacts N] [--seed S] [--workdir DIR] [--repeats R] [--engine duckdb|spark]
    [--spark-master URL] [--lake DIR]``."""
    contacts = int(args.contacts)
    seed = int(getattr(args, "seed", 7))
    temporary = getattr(args, "workdir", None) is None
    workdir = Path(tempfile.mkdtemp(prefix="unify-bench-")) if temporary else Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out, db_path = workdir / f"demo-{contacts}-{seed}", workdir / f"bench-{contacts}-{seed}.duckdb"
    try:
        build_info = {"reused": False}
        if not temporary and db_path.exists() and _built(db_path, contacts, seed):
            build_info = {"reused": True, "demo_s": None, "load_s": None}
            print(f"reusing {db_path}")
        else:
            print(f"building a demo workspace of {contacts:,} contacts ({BENCH_EXCLUSIONS} exclusions) in {workdir}")
            child = subprocess.run(
                [sys.executable, "-c", "import sys, json; from pathlib import Path; from unify_dash.reports import bench; "
                 "print(json.dumps(bench.build(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), "
                 "int(sys.argv[4]))))", str(out), str(db_path), str(contacts), str(seed)],
                capture_output=True, text=True, check=False)
            if child.returncode != 0:
                sys.stderr.write(child.stderr)
                print(f"error: building the workspace failed (exit {child.returncode})", file=sys.stderr)
                return 1
            build_info.update(json.loads(child.stdout.strip().splitlines()[-1]))
            made = "reused" if build_info["demo_s"] is None else f"written in {build_info['demo_s']} s"
            print(f"demo {made}, loaded in {build_info['load_s']} s")
        if getattr(args, "engine", "duckdb") == "spark":
            lake_dir = Path(args.lake) if getattr(args, "lake", None) else workdir / f"lake-{contacts}-{seed}"
            result = run_spark(db_path, lake_dir, master=getattr(args, "spark_master", None) or "local[*]",
                               repeats=int(getattr(args, "repeats", 200)), seed=seed)
        else:
            result = run(db_path, repeats=int(getattr(args, "repeats", 200)), seed=seed)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    figures = {**result, **{k: v for k, v in build_info.items()}}
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
