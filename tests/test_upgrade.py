"""A database file made by an older unify-dash: its history tables get the new columns, its record tables
are rebuilt by a load, and until then every command says what to do instead of failing on a column."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from workspace_factory import write_workspace

from unify_dash.io import paths
from unify_dash.store import db

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != paths.WORKSPACES_ENV}
    return subprocess.run([sys.executable, "-m", "unify_dash", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def _older(path: Path, *drops: tuple[str, str]) -> None:
    """Make ``path`` look like a file of an older release: without the given (table, column)s."""
    con = duckdb.connect(str(path))
    for table, column in drops:
        for (index,) in con.execute("SELECT index_name FROM duckdb_indexes() WHERE table_name = ?", [table]).fetchall():
            con.execute(f"DROP INDEX {db.ident(index)}")
        con.execute(f"ALTER TABLE {db.ident(table)} DROP COLUMN {db.ident(column)}")
    con.close()


def _loaded(tmp_path: Path) -> tuple[Path, Path]:
    folder = write_workspace(tmp_path / "ws")
    dbfile = tmp_path / "w.duckdb"
    proc = run_cli("load", str(folder), "--db", str(dbfile))
    assert proc.returncode == 0, proc.stderr
    return folder, dbfile


def _columns(path: Path, table: str) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ?",
                                          [table]).fetchall()}
    finally:
        con.close()


def test_an_older_history_table_gets_its_new_column_and_keeps_its_rows(tmp_path):
    _, dbfile = _loaded(tmp_path)
    con = duckdb.connect(str(dbfile))
    audit_rows = con.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    con.close()
    _older(dbfile, ("audit_log", "wall_at"))
    # a read-only verb refuses it with what to do, and changes nothing
    proc = run_cli("export-lake", str(tmp_path / "lake"), "--db", str(dbfile))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "older unify-dash" in proc.stderr and "audit_log.wall_at" in proc.stderr
    assert "unify-dash upgrade" in proc.stderr
    assert "wall_at" not in _columns(dbfile, "audit_log") and not (tmp_path / "lake").exists()
    proc = run_cli("upgrade", "--db", str(dbfile), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] == ["audit_log.wall_at"]
    assert "wall_at" in _columns(dbfile, "audit_log")
    con = duckdb.connect(str(dbfile), read_only=True)
    assert con.execute("SELECT count(*) FROM audit_log").fetchone()[0] == audit_rows
    con.close()
    again = run_cli("upgrade", "--db", str(dbfile), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["added"] == []
    assert run_cli("export-lake", str(tmp_path / "lake"), "--db", str(dbfile)).returncode == 0


def test_a_command_that_writes_adds_a_history_column_on_its_own(tmp_path):
    _, dbfile = _loaded(tmp_path)
    _older(dbfile, ("audit_log", "wall_at"))
    proc = run_cli("explain", "nobody@example.com", "--db", str(dbfile))
    assert "older" not in proc.stderr and "Traceback" not in proc.stderr
    assert "wall_at" in _columns(dbfile, "audit_log")


def test_older_record_tables_are_refused_until_a_load_rebuilds_them_keeping_the_history(tmp_path):
    folder, dbfile = _loaded(tmp_path)
    con = duckdb.connect(str(dbfile))
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    _older(dbfile, ("contacts", "company_key"), ("audit_log", "wall_at"))
    for argv in (["explain", "nobody@example.com"], ["upgrade"], ["sends", "--until", "2030-01-01"],
                 ["export-lake", str(tmp_path / "lake")]):
        proc = run_cli(*argv, "--db", str(dbfile))
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, (argv, proc.stderr)
        assert "contacts.company_key" in proc.stderr and f"unify-dash load DIR --db {dbfile}" in proc.stderr, proc.stderr
    # the refusal wrote nothing: not even the history column a write would add
    assert "wall_at" not in _columns(dbfile, "audit_log")
    proc = run_cli("load", str(folder), "--db", str(dbfile))
    assert proc.returncode == 0, proc.stderr
    assert {"company_key"} <= _columns(dbfile, "contacts") and "wall_at" in _columns(dbfile, "audit_log")
    con = duckdb.connect(str(dbfile), read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] >= events
    con.close()
    assert run_cli("export-lake", str(tmp_path / "lake"), "--db", str(dbfile)).returncode == 0
