"""``unify-dash export-lake``: every table as Parquet, all or nothing, never over a folder it did not write."""

from __future__ import annotations

import json

import duckdb
import pytest
from engine_factory import OPEN_OPP, Workspace, doc, exclusion

from unify_dash import cli
from unify_dash.errors import UnifyError
from unify_dash.io.lake import MARKER, export_lake
from unify_dash.store import db, schema


@pytest.fixture
def workspace(tmp_path):
    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    ws = Workspace(con)
    ws.contact("bob@acme.com", title="CEO")
    ws.record("sf:1", "salesforce", "acme.com")
    ws.opportunity("sf:o1", "sf:1")
    ws.save(doc(exclusions=[exclusion("open_opp", OPEN_OPP)]))
    con.close()
    return path


def test_every_table_is_written_with_its_rows_and_types(workspace, tmp_path):
    out = tmp_path / "lake"
    assert cli.main(["export-lake", str(out), "--db", str(workspace), "--json"]) == 0
    con = db.connect(workspace, read_only=True)
    check = duckdb.connect()
    for table in schema.TABLES:
        want = con.execute(f"SELECT * FROM {db.ident(table)} ORDER BY ALL").fetchall()
        got = check.execute("SELECT * FROM read_parquet(?) ORDER BY ALL", [str(out / f"{table}.parquet")]).fetchall()
        assert got == want, table
    con.close()
    assert json.loads((out / MARKER).read_text())["tables"]["contacts"] == 1


def test_a_lake_is_replaced_and_a_foreign_folder_is_refused(workspace, tmp_path):
    out = tmp_path / "lake"
    con = db.connect(workspace, read_only=True)
    export_lake(con, out)
    (out / "contacts.parquet").unlink()
    export_lake(con, out)  # a lake written before: replaced whole
    assert (out / "contacts.parquet").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UnifyError, match="not a lake"):
        export_lake(con, foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written folder left
    con.close()
