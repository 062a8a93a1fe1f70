"""``unify-dash export-lake DIR``: a workspace's tables as Parquet, one ``DIR/<table>.parquet`` per table
of the schema, for an engine that runs where the data is (Spark: docs/scale-out.md)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import duckdb

from unify_dash.errors import UnifyError
from unify_dash.store import db, schema

MARKER = "_unify_lake.json"


def export_lake(con: duckdb.DuckDBPyConnection, out_dir) -> dict:
    """Write every table of the workspace as ``out_dir/<table>.parquet``; returns ``{table: rows}``.

    All or nothing: the files are written into a new folder next to ``out_dir``, which then takes its
    place. ``out_dir`` must not exist, be empty, or be a lake written before (it is replaced)."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise UnifyError(f"{out} exists and is not a lake written by export-lake: choose a new or empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        rows = {}
        cur = con.cursor()
        try:
            for table in schema.TABLES:
                cur.execute(f"COPY {db.ident(table)} TO ? (FORMAT parquet)", [str(tmp / f"{table}.parquet")])
                rows[table] = cur.execute(f"SELECT count(*) FROM {db.ident(table)}").fetchone()[0]
        finally:
            cur.close()
        (tmp / MARKER).write_text(json.dumps({"tables": rows, "generation": db.generation(con)}, indent=1) + "\n",
                                  encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rows


def cli_export_lake(args) -> int:
    """``unify-dash export-lake DIR [--db PATH] [--json]``."""
    con = db.connect(args.db, read_only=True)
    try:
        rows = export_lake(con, args.dir)
    finally:
        con.close()
    if getattr(args, "json", False):
        print(json.dumps({"dir": str(args.dir), "tables": rows}))
        return 0
    for table, n in rows.items():
        print(f"{table:<20}{n:>12,} rows")
    print(f"wrote {len(rows)} tables as Parquet into {args.dir}")
    return 0
