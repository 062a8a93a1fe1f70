"""Where a load's time goes, statement by statement.

    .venv/bin/python scripts/load_profile.py WORKSPACE_DIR DB_PATH [--memory-limit 3GB] [--threads N] [--top 25]
        [--parts] [--typed STEM] [--memory-trace SECONDS]

Loads ``WORKSPACE_DIR`` into a new database ``DB_PATH`` (deleted first) with
:func:`unify_dash.io.load.load_workspace`, timing every SQL statement the load sends (wall and the process's
CPU time, user + system, around each ``execute``), and prints the slowest statements, the totals, the peak
RSS of the process and the load average. With ``--threads 1`` the CPU figures add up to the load's.
``--parts`` adds the totals by part of the load (reading each file, staging, checks, writing, the commit, the
index builds after it), so that two runs compare part by part. ``--typed contacts`` times only the typed pass
of one file (:meth:`unify_dash.io.workspace.Loading.typed`: read, convert, check) on an in-memory database
(``DB_PATH`` unused), with the memory DuckDB holds after it (``duckdb_memory()``). ``--memory-trace 1`` samples,
every second, the process's RSS and the memory DuckDB's buffer manager counts (``duckdb_memory()``, read on a
second connection) with the statement running, and prints the statements at the highest RSS: what drives the
peak, and how much of it is beyond what DuckDB counts against its ``memory_limit``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import threading
import time
from pathlib import Path

from unify_dash.io.load import load_workspace
from unify_dash.store import db


class TimedConnection:
    """A DuckDB connection whose ``execute`` records (statement, wall s, CPU s)."""

    def __init__(self, con):
        self._con = con
        self.timings: list[tuple[str, float, float]] = []
        self.running: str | None = None  # the statement being executed (read by MemoryTrace)

    def execute(self, query, params=None):
        wall, cpu = time.perf_counter(), time.process_time()
        self.running = query
        try:
            return self._con.execute(query, params) if params is not None else self._con.execute(query)
        finally:
            self.running = None
            self.timings.append((query, time.perf_counter() - wall, time.process_time() - cpu))

    def __getattr__(self, name):
        return getattr(self._con, name)


def _short(query: str, width: int = 150) -> str:
    return re.sub(r"\s+", " ", str(query)).strip()[:width]


# (part, pattern of the statement) in order: the first that matches names the statement's part
PARTS = (
    ("index builds after the commit (with their commits)", r"^CREATE (UNIQUE )?INDEX"),
    ("checkpoints", r"^CHECKPOINT"),
    ("the data commit", r"^COMMIT"),
    ("reading + converting files", r"^CREATE TEMP TABLE \"_ud_typed_"),
    ("writing record tables", r"^INSERT INTO (contacts|contact_records|company_records|opportunities|enrollments|company_members)\b"),
    ("writing events", r"^(INSERT INTO events|UPDATE events|UPDATE \"_ud_typed_)"),
    ("staging", r"^INSERT INTO _ud_stg_"),
    ("duplicate and reference checks", r"^SELECT (k FROM|count\(\*\) FROM \"_ud_typed|count\(\*\) FROM \"_ud_merged|_row|k,)"),
    ("cell checks", r"^SELECT count\(\*\) FILTER"),
)


def parts(timings: list[tuple[str, float, float]]) -> list[tuple[str, float, float, int]]:
    """(part, wall s, CPU s, statements) of a load's timed statements, the rest as "other"."""
    out: dict[str, list] = {name: [0.0, 0.0, 0] for name, _ in PARTS} | {"other": [0.0, 0.0, 0]}
    previous = None
    for query, wall, cpu in timings:
        text = _short(query, 400)
        name = next((n for n, pattern in PARTS if re.search(pattern, text)), "other")
        if text.startswith(("COMMIT", "BEGIN")) and previous == PARTS[0][0]:
            name = PARTS[0][0]  # an index build's own transaction
        previous = name if not text.startswith("BEGIN") else previous
        out[name][0] += wall
        out[name][1] += cpu
        out[name][2] += 1
    return [(name, w, c, n) for name, (w, c, n) in out.items() if n]


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


class MemoryTrace(threading.Thread):
    """Samples (seconds since start, RSS MB, MB DuckDB counts, statement) every ``every`` seconds."""

    def __init__(self, con: TimedConnection, every: float):
        super().__init__(daemon=True)
        self.con, self.every, self.samples = con, every, []
        self._probe = con._con.cursor()  # a second connection to the same database: never blocks the load
        self._done, self._start = threading.Event(), time.perf_counter()

    def run(self) -> None:
        while not self._done.wait(self.every):
            try:
                held = self._probe.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0] / 2**20
            except Exception:  # noqa: BLE001 - a sample lost (the database closing), not the load
                held = float("nan")
            self.samples.append((time.perf_counter() - self._start, _rss_mb(), held, self.con.running or "(Python)"))

    def stop(self) -> None:
        self._done.set()
        self.join()

    def report(self, top: int = 12) -> None:
        if not self.samples:
            return
        by_statement: dict[str, tuple] = {}
        for t, rss, held, query in self.samples:
            key = _short(query, 110)
            if key not in by_statement or rss > by_statement[key][1]:
                by_statement[key] = (t, rss, held)
        print(f"memory trace ({len(self.samples)} samples): {'at s':>7} {'RSS MB':>8} {'DuckDB MB':>9}  statement")
        for key, (t, rss, held) in sorted(by_statement.items(), key=lambda kv: -kv[1][1])[:top]:
            print(f"{'':29}{t:7.0f} {rss:8,.0f} {held:9,.0f}  {key}")


def typed_pass(workspace: Path, stem: str, threads: int | None) -> None:
    import duckdb

    from unify_dash.io import workspace as loader
    from unify_dash.model import roles

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    loader.install_sql_helpers(con)
    ld = loader.Loading(con, workspace, roles.SYSTEM, None)
    wall, cpu = time.perf_counter(), time.process_time()
    t = ld.typed(ld.read(workspace / f"{stem}.csv", f"{stem}.csv"), loader.WORKSPACE_COLUMNS[stem], warn_unknown=True)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    held = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0] / 1e6
    print(f"typed pass of {stem}.csv: {wall:.2f} s wall, {cpu:.2f} s CPU, {t.rows if t else 0:,} rows, "
          f"{len(ld.problems)} problems; DuckDB holds {held:,.0f} MB; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace")
    ap.add_argument("db")
    ap.add_argument("--memory-limit")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--parts", action="store_true", help="totals by part of the load")
    ap.add_argument("--typed", metavar="STEM", help="time only the typed pass of STEM.csv (e.g. contacts)")
    ap.add_argument("--memory-trace", type=float, metavar="SECONDS", help="sample RSS and DuckDB's memory")
    args = ap.parse_args()
    if args.typed:
        print(f"load average before: {os.getloadavg()}")
        typed_pass(Path(args.workspace), args.typed, args.threads)
        print(f"load average after: {os.getloadavg()}")
        return
    for p in (Path(args.db), Path(f"{args.db}.wal")):
        p.unlink(missing_ok=True)
    print(f"load average before: {os.getloadavg()}")
    raw = db.connect(args.db, memory=args.memory_limit)
    if args.threads:
        raw.execute(f"SET threads = {int(args.threads)}")
    con = TimedConnection(raw)
    trace = MemoryTrace(con, args.memory_trace) if args.memory_trace else None
    if trace:
        trace.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        result = load_workspace(con, Path(args.workspace))
    finally:
        if trace:
            trace.stop()
        raw.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    timed_wall = sum(t[1] for t in con.timings)
    timed_cpu = sum(t[2] for t in con.timings)
    print(f"load: {wall:.1f} s wall, {cpu:.1f} s CPU; in SQL {timed_wall:.1f} s wall, {timed_cpu:.1f} s CPU "
          f"({len(con.timings)} statements); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    print(f"contacts {result.get('contacts')}, events in file {result.get('events_in_file')}")
    print(f"{'wall s':>8} {'CPU s':>8}  statement")
    for query, w, c in sorted(con.timings, key=lambda t: -t[1])[:args.top]:
        print(f"{w:8.2f} {c:8.2f}  {_short(query)}")
    if args.parts:
        print(f"{'wall s':>8} {'CPU s':>8} {'n':>4}  part")
        for name, w, c, n in parts(con.timings):
            print(f"{w:8.2f} {c:8.2f} {n:4}  {name}")
    if trace:
        trace.report()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
