"""Each secondary index's point look-up, timed three ways on a copy of a loaded database.

    .venv/bin/python scripts/index_lookups.py DB_COPY [--keys 30] [--repeats 3]

``DB_COPY`` is changed (tables are added): pass a copy. For each index of ``store/schema.py``
``SECONDARY_INDEXES`` (``table(column)``), ``--keys`` values of the column (spread over the table) are looked
up with ``SELECT * FROM table WHERE column = ?``: on the table with its index; on a copy of it without
the index, in the same row order (a sequential scan); and on a copy sorted by the column without the index
(DuckDB's zone maps, the min/max of each row group, skip the row groups that cannot hold the value). Each
way's median and p90 over ``--repeats`` rounds of every key, with the build time of the index on the table
(``CREATE INDEX`` + ``CHECKPOINT``). Prints one line per index and way, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from unify_dash.store import db, schema


def _time(con, sql: str, keys: list, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        for k in keys:
            t = time.perf_counter()
            con.execute(sql, [k]).fetchall()
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--keys", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    con = db.connect(args.db)  # within the CLI's memory limit (db.memory_limit)
    for name, table, column, use in schema.SECONDARY_INDEXES:
        rows = con.execute(f"SELECT count(*) FROM {db.ident(table)}").fetchone()[0]
        if not rows:
            print(f"{name}: {table} is empty, skipped")
            continue
        col, tbl = db.ident(column), db.ident(table)
        keys = [r[0] for r in con.execute(
            f"SELECT {col} FROM (SELECT {col}, row_number() OVER () AS n FROM {tbl} WHERE {col} IS NOT NULL) "
            f"WHERE n % greatest(1, (SELECT count(*) FROM {tbl}) // ?) = 0 LIMIT ?", [args.keys, args.keys]).fetchall()]
        con.execute(f"DROP INDEX IF EXISTS {db.ident(name)}")
        con.execute("CHECKPOINT")
        t = time.perf_counter()
        con.execute(f"CREATE INDEX {db.ident(name)} ON {tbl}({col})")
        con.execute("CHECKPOINT")
        build = time.perf_counter() - t
        ways = [("index", tbl)]
        for way, order in (("no index, same order", ""), ("no index, sorted by the column", f" ORDER BY {col}")):
            copy = db.ident(f"_lookup_{table}_{'sorted' if order else 'plain'}")
            con.execute(f"CREATE OR REPLACE TABLE {copy} AS SELECT * FROM {tbl}{order}")
            con.execute("CHECKPOINT")
            ways.append((way, copy))
        for way, target in ways:
            median, p90 = _time(con, f"SELECT * FROM {target} WHERE {col} = ?", keys, args.repeats)
            print(f"{name} ({table}, {rows:,} rows, build {build:.2f} s; {use}): {way}: "
                  f"median {median:.2f} ms, p90 {p90:.2f} ms")
        for _, target in ways[1:]:
            con.execute(f"DROP TABLE {target}")
    con.close()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
