"""The loader's fast paths give exactly what the full text checks give; big files still name bad rows;
the keys of the bulk tables are unique indexes; the memory limit is parsed and applied."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from workspace_factory import write_workspace

from unify_dash.errors import LoadError, ValidationError
from unify_dash.io import demo
from unify_dash.io import workspace as loader
from unify_dash.io.load import load_workspace
from unify_dash.store import db, schema

BLNS = json.loads((Path(__file__).resolve().parent / "data" / "blns" / "blns.json").read_text(encoding="utf-8"))
CELLS = [*BLNS, "", " ", "\t7\n", "\u00a07", "7\u2003", "\u2003", "007", "-0", "0.000", "1.0", "1e3", "+5", "5.", ".5",
         "1e-400", "1e-310", "1_000", "2147483647", "2147483648", "-2147483649", "999999999999999.999999999999999",
         "x", "é", "xé", "a b ", "\x1cid\x1f", "\x85id", "true", " TRUE ", "yes", "No", "0", "1"]
# (fast macro, its full text definition); bool and blank go through the fast strip
PAIRS = [("_ud_strip({})", "_ud_strip_text({})"), ("_ud_num({})", "_ud_num_text({})"),
         ("_ud_int({})", "_ud_int_text({})"), ("_ud_blank({})", "({0} IS NULL OR _ud_strip_text({0}) = '')"),
         ("_ud_bool({})", "CASE lower(_ud_strip_text({0})) WHEN 'true' THEN TRUE WHEN '1' THEN TRUE WHEN 'yes' "
                          "THEN TRUE WHEN 'false' THEN FALSE WHEN '0' THEN FALSE WHEN 'no' THEN FALSE END")]


@pytest.fixture(scope="module")
def sql():
    con = duckdb.connect()
    loader.install_sql_helpers(con)
    yield con
    con.close()


def _differences(con, values: list[str | None]) -> list:
    checks = ", ".join(f"{fast.format('v')} IS NOT DISTINCT FROM {full.format('v')}" for fast, full in PAIRS)
    rows = con.execute(f"SELECT v, {checks} FROM unnest(?::VARCHAR[]) t(v)", [values]).fetchall()
    return [(r[0], [PAIRS[i][0] for i, ok in enumerate(r[1:]) if not ok]) for r in rows if not all(r[1:])]


def test_fast_paths_equal_the_text_checks_on_hostile_cells(sql):
    assert _differences(sql, [*CELLS, None]) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.from_regex(r"-?[0-9]{1,17}(\.[0-9]{0,17})?", fullmatch=True),
                          st.integers().map(str), st.floats(allow_nan=True).map(str)), max_size=30))
def test_fast_paths_equal_the_text_checks_on_any_cell(sql, values):
    assert _differences(sql, values) == []


def _text_only(monkeypatch):
    """The loader with every fast path replaced by its full text definition."""
    fast = {"_ud_strip": "_ud_strip_text(s)", "_ud_num": "_ud_num_text(s)", "_ud_int": "_ud_int_text(s)"}
    macros = []
    for statement in loader.MACROS:
        name = statement.split("MACRO ", 1)[1].split("(", 1)[0]
        macros.append(f"CREATE OR REPLACE TEMP MACRO {name}(s) AS {fast[name]}" if name in fast else statement)
    monkeypatch.setattr(loader, "MACROS", macros)


def _tables(con) -> dict:
    out = {}
    for t in (*schema.RECORD_TABLES, "events"):
        cols = ", ".join(db.ident(c) for c in schema.names(t))
        out[t] = con.execute(f"SELECT {cols} FROM {db.ident(t)} ORDER BY ALL").fetchall()
    return out


def test_fast_and_text_paths_load_identical_tables(tmp_path, monkeypatch):
    folder = tmp_path / "demo"
    demo.generate(folder, contacts=400, seed=3)
    fast_con = db.connect(tmp_path / "fast.duckdb")
    load_workspace(fast_con, folder)
    with monkeypatch.context() as m:
        _text_only(m)
        text_con = db.connect(tmp_path / "text.duckdb")
        load_workspace(text_con, folder)
    assert _tables(fast_con) == _tables(text_con)
    assert sum(len(rows) for rows in _tables(fast_con).values()) > 1000


def test_a_bad_row_in_a_100k_file_is_named_with_its_row(tmp_path):
    folder = tmp_path / "big"
    demo.generate(folder, contacts=100_000, seed=5)
    lines = (folder / "contacts.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    target = 87_654  # the file's row 87,654: header = row 1
    cells = lines[target - 1].split(",")
    cells[13] = "2026-13-45T99:00"  # last_contacted_at
    lines[target - 1] = ",".join(cells)
    cells = lines[99_000].split(",")
    cells[10] = "maybe"  # sf_email_opt_out, row 99,001
    lines[99_000] = ",".join(cells)
    (folder / "contacts.csv").write_text("".join(lines), encoding="utf-8")
    con = db.connect(tmp_path / "x.duckdb")
    with pytest.raises(LoadError) as err:
        load_workspace(con, folder)
    found = {(p.file, p.row, p.column) for p in err.value.problems}
    assert ("contacts.csv", target, "last_contacted_at") in found
    assert ("contacts.csv", 99_001, "sf_email_opt_out") in found
    assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0  # nothing loaded


def test_a_duplicate_event_id_in_a_file_is_named_by_row(con, tmp_path):
    from workspace_factory import EVENTS_CSV, with_row
    first = EVENTS_CSV.splitlines()[1].split(",")[0]
    events = with_row(EVENTS_CSV, f"{first},2026-11-20T08:00:00,opt_out,carol@gmail.com,,,,,link,,,,")
    with pytest.raises(LoadError) as err:
        load_workspace(con, write_workspace(tmp_path, {"events.csv": events}))
    assert any(p.file == "events.csv" and p.column == "event_id" and f"duplicate event_id {first!r}" in p.message
               for p in err.value.problems)


def test_bulk_tables_keep_unique_keys_as_indexes(con, tmp_path):
    load_workspace(con, write_workspace(tmp_path))
    names = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes() WHERE is_unique").fetchall()}
    assert {name for t in schema.BULK_TABLES for name, _ in schema.key_indexes(t)} <= names
    row = con.execute("SELECT contact_id, email FROM contacts LIMIT 1").fetchone()
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO contacts (contact_id, email) VALUES (?, 'new@x.com')", [row[0]])
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO contacts (contact_id, email) VALUES ('new', ?)", [row[1]])
    event = con.execute("SELECT event_id FROM events LIMIT 1").fetchone()[0]
    con.execute("INSERT INTO events (event_id, occurred_at, type) VALUES (?, now(), 'opt_out') "
                "ON CONFLICT (event_id) DO NOTHING", [event])  # the key index serves ON CONFLICT
    assert con.execute("SELECT count(*) FROM events WHERE event_id = ?", [event]).fetchone()[0] == 1


def test_memory_limit_is_parsed_and_applied(monkeypatch):
    gb = db.machine_memory() / 1e6
    assert db.memory_limit("4GB") == "4000MB"
    assert db.memory_limit("1500 mb") == "1500MB"
    assert db.memory_limit("2GiB") == f"{int(2 * 2**30 / 1e6)}MB"
    assert db.memory_limit("10%") == f"{int(gb * 0.1)}MB"
    monkeypatch.setenv(db.MEMORY_ENV, "3GB")
    assert db.memory_limit() == "3000MB"
    assert db.memory_limit("1GB") == "1000MB"  # the flag wins over the environment
    assert db.memory_limit(load=True) == "3000MB"  # an explicit limit is not capped for a load
    monkeypatch.delenv(db.MEMORY_ENV)
    assert db.memory_limit() == f"{int(gb * db.MEMORY_FRACTION)}MB"
    # a load's default: the same share of the machine, at most LOAD_MEMORY_CAP
    assert db.memory_limit(load=True) == f"{int(min(gb * db.MEMORY_FRACTION, db.LOAD_MEMORY_CAP / 1e6))}MB"
    monkeypatch.setattr(db, "machine_memory", lambda: 64 * 10**9)
    assert db.memory_limit() == "16000MB" and db.memory_limit(load=True) == "3000MB"
    monkeypatch.setattr(db, "machine_memory", lambda: 8 * 10**9)
    assert db.memory_limit(load=True) == "2000MB"
    assert db.memory_limit("5GB", load=True) == "5000MB"
    for bad in ("lots", "4 parsecs", "0%", "150%", "-1GB"):
        with pytest.raises(ValidationError, match="--memory-limit"):
            db.memory_limit(bad)
    monkeypatch.setenv(db.MEMORY_ENV, "plenty")
    with pytest.raises(ValidationError, match=db.MEMORY_ENV):
        db.connect(None)
    monkeypatch.setenv(db.MEMORY_ENV, "700MB")
    con = db.connect(None)
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.endswith("MiB") and 660 <= float(limit.split()[0]) <= 700  # DuckDB shows MiB
    con = db.connect(None, memory="1GB")
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("953.6 MiB", "953.7 MiB")


def test_cli_load_takes_the_memory_limit(tmp_path, capsys):
    from unify_dash import cli
    folder = write_workspace(tmp_path)
    assert cli.main(["load", str(folder), "--db", str(tmp_path / "u.duckdb"), "--memory-limit", "512MB"]) == 0
    assert cli.main(["load", str(folder), "--db", str(tmp_path / "v.duckdb"), "--memory-limit", "lots"]) == 1
    assert "error: --memory-limit: 'lots' is not a memory size" in capsys.readouterr().err


def test_cli_load_defaults_to_the_load_cap(tmp_path, monkeypatch):
    from unify_dash import cli
    monkeypatch.delenv(db.MEMORY_ENV, raising=False)
    monkeypatch.setattr(db, "machine_memory", lambda: 64 * 10**9)  # a quarter would be 16 GB
    seen, connect = [], db.connect

    def spy(*args, **kwargs):
        con = connect(*args, **kwargs)
        seen.append(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        return con

    monkeypatch.setattr(db, "connect", spy)
    assert cli.main(["load", str(write_workspace(tmp_path)), "--db", str(tmp_path / "u.duckdb")]) == 0
    assert seen[0] in ("2.7 GiB", "2.8 GiB"), seen  # 3,000 MB, not 16 GB


def test_secondary_indexes_serve_point_look_ups_and_retired_ones_are_dropped(tmp_path):
    """Each secondary index is on a column looked up by a constant; an older file's retired indexes (only
    ever joined or inside OR filters) are dropped when it is opened for writing, and a load builds no others."""
    path = tmp_path / "old.duckdb"
    con = db.connect(path)
    load_workspace(con, write_workspace(tmp_path / "ws"))
    con.execute("CREATE INDEX idx_events_contact ON events(contact_id)")  # as an older version made it
    con.execute("CREATE INDEX idx_links_record ON contact_records(record_id)")
    con.close()
    con = db.connect(path)
    names = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    assert not names & set(schema.RETIRED_INDEXES)
    declared = {name for name, *_ in schema.SECONDARY_INDEXES}
    assert declared <= names
    load_workspace(con, write_workspace(tmp_path / "ws"))
    after = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    keys = {name for t in schema.BULK_TABLES for name, _ in schema.key_indexes(t)}
    assert after == declared | keys
    email = con.execute("SELECT email FROM events WHERE email IS NOT NULL LIMIT 1").fetchone()[0]
    plan = con.execute("EXPLAIN ANALYZE SELECT * FROM events WHERE email = ?", [email]).fetchall()[0][1]
    assert "Index Scan" in plan or "INDEX_SCAN" in plan
    con.close()


def test_events_get_the_missing_email_or_contact_id_and_keep_file_order(tmp_path):
    """A first load inserts the events file's rows straight from its table (no join, no sort): the rows
    without a contact_id or an email get it from the contact, and the table is in file order. A reload
    upserts the same way (a changed row is updated with the looked-up value, a new one added)."""
    from workspace_factory import EVENTS_CSV, write_workspace

    from unify_dash.io.load import load_workspace
    from unify_dash.store import db

    con = db.connect(tmp_path / "ev.duckdb")
    rows = [f"ev{i:03d},2026-11-2{i % 5}T09:00:00,reply,,c{1 + i % 5},,,,,,hello {i},," for i in range(4, 40)]
    load_workspace(con, write_workspace(tmp_path, {"events.csv": EVENTS_CSV + "\n".join(rows) + "\n"}))
    got = con.execute("SELECT event_id, contact_id, email FROM events WHERE event_id LIKE 'ev%'").fetchall()
    assert [r[0] for r in got] == ["ev1", "ev2", "ev3", *[f"ev{i:03d}" for i in range(4, 40)]]
    by_id = {r[0]: r[1:] for r in got}
    assert by_id["ev2"] == ("c5", "eve@initech.com") and by_id["ev3"] == ("c1", "ana@acme.com")
    assert by_id["ev010"] == ("c1", "ana@acme.com")
    again = EVENTS_CSV.replace("Please remove me from your list", "Stop") + "ev900,2026-11-25T11:00:00,reply,,c2,,,,,,hi,,\n"
    load_workspace(con, write_workspace(tmp_path, {"events.csv": again}, name="second"))
    assert con.execute("SELECT text, email FROM events WHERE event_id = 'ev3'").fetchone() == ("Stop", "ana@acme.com")
    assert con.execute("SELECT contact_id, email FROM events WHERE event_id = 'ev900'").fetchone() == (
        "c2", "bob@acme.com")
    assert con.execute("SELECT count(*) FROM events WHERE event_id LIKE 'ev%'").fetchone()[0] == 40
    con.close()


def _typed(tmp_path, text: str, cols: list) -> tuple[loader.Loading, loader.Typed | None, duckdb.DuckDBPyConnection]:
    from unify_dash.model import roles
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    con = duckdb.connect()
    loader.install_sql_helpers(con)
    ld = loader.Loading(con, tmp_path, roles.SYSTEM, None)
    return ld, ld.typed(ld.read(path, "f.csv"), cols), con


def test_the_checks_run_in_the_typed_pass_and_keep_text_only_where_a_check_fails(tmp_path):
    cols = [loader.Col("id", "id", "value"), loader.Col("at", "ts"), loader.Col("n", "int"),
            loader.Col("ok", "bool", "value")]
    rows = [f"r{i},2026-11-0{1 + i % 9}T09:00:00,{i},true" for i in range(200)]
    rows[17] = "r17,2026-13-45,17,true"  # row 19 of the file: a bad date
    rows[150] = "r150,2026-11-02,1_000,"  # row 152: a bad number and an empty required boolean
    ld, t, con = _typed(tmp_path, "id,at,n,ok\n" + "\n".join(rows) + "\n", cols)
    assert t is None  # problems, all of them at once, with the cell's text
    found = {(p.row, p.column, p.message.split(";")[0]) for p in ld.problems}
    assert found == {(19, "at", "'2026-13-45' is not a date/time"), (152, "n", "'1_000' is not a whole number"),
                     (152, "ok", "is empty")}
    table = ld._temps[-1]
    kept = con.execute(f'SELECT _row, c1, c2, c3 FROM "{table}" WHERE c1 IS NOT NULL OR c2 IS NOT NULL '
                       "OR c3 IS NOT NULL ORDER BY _row").fetchall()
    assert kept == [(19, "2026-13-45", None, None), (152, None, "1_000", None)]  # an empty cell has no text


def test_more_cell_checks_than_one_word_of_bits(tmp_path):
    cols = [loader.Col(f"n{i}", "int", "value" if i % 2 else None) for i in range(80)]  # 120 checks: 2 words
    good = ",".join(str(i) for i in range(80))
    bad = good.split(",")
    bad[77] = "x7"
    bad[79] = ""
    ld, t, _ = _typed(tmp_path, ",".join(c.name for c in cols) + "\n" + good + "\n" + ",".join(bad) + "\n", cols)
    assert t is None
    assert {(p.row, p.column, p.message.split(";")[0]) for p in ld.problems} == {
        (3, "n77", "'x7' is not a whole number"), (3, "n79", "is empty")}
    cols = cols[:3]
    ld, t, con = _typed(tmp_path, "n0,n1,n2\n1,2,3\n", cols)
    assert t is not None and not ld.problems
    assert con.execute(f'SELECT n0, n1, n2 FROM "{t.table}"').fetchall() == [(1, 2, 3)]


def test_an_email_changed_by_the_identity_pass_is_checked_as_changed(tmp_path):
    cols = [loader.Col("email", "email", "value")]
    # a full-width at sign is not an address as written (the pass's check fails), but is one once normalised
    ld, t, con = _typed(tmp_path, "email\nalice＠example.com\nbob@example.com\nno-at-sign\n", cols)
    assert t is None
    assert [(p.row, p.column) for p in ld.problems] == [(4, "email")]
    ld, t, con = _typed(tmp_path, "email\nalice＠example.com\n", cols)
    assert t is not None and con.execute(f'SELECT email FROM "{t.table}"').fetchall() == [("alice@example.com",)]


def test_csv_rows_are_numbered_in_file_order_across_row_groups(tmp_path):
    """Over several row groups, inside the load's transaction and on two threads, every row of a CSV file keeps
    its line's number, a bad cell deep in the file is named by its line, and the typed table is in file order.
    The rows are numbered by the rowid of the file's table (Loading.numbered), which inside a transaction starts at
    a transaction-local offset: the numbers must survive that, an UPDATE and a DELETE of the table's rows, and the
    read must have no window (a window runs the whole typed pass on one thread)."""
    from unify_dash.model import roles

    n = 300_000  # about 2.4 row groups of 122,880 rows
    rows = [f"r{i},{i + 2}" for i in range(n)]
    cols = [loader.Col("id", "id", "value"), loader.Col("line", "int")]
    for bad in (True, False):
        rows[254_321] = "r254321,x" if bad else "r254321,254323"  # the file's row 254,323
        (tmp_path / "f.csv").write_text("id,line\n" + "\n".join(rows) + "\n", encoding="utf-8")
        con = duckdb.connect()
        con.execute("SET threads = 2")
        loader.install_sql_helpers(con)
        con.execute("BEGIN TRANSACTION")
        ld = loader.Loading(con, tmp_path, roles.SYSTEM, None)
        raw = ld.read(tmp_path / "f.csv", "f.csv")
        plan = "".join(r[1] for r in con.execute(f"EXPLAIN {raw.source}", [raw.path]).fetchall())
        assert "READ_CSV" in plan and "WINDOW" not in plan.upper()
        t = ld.typed(raw, cols)
        if bad:
            assert t is None and [(p.row, p.column) for p in ld.problems] == [(254_323, "line")]
            continue
        assert t is not None and t.rows == n
        tbl = f'"{t.table}"'
        assert con.execute(f"SELECT min(rowid) FROM \"{t.data}\"").fetchone()[0] > 0  # transaction-local rowids
        assert con.execute(f"SELECT count(*), min(_row), max(_row) FROM {tbl} WHERE _row = line").fetchone() == (
            n, 2, n + 1)
        in_order = con.execute(f"SELECT min(ok) FROM (SELECT _row = 1 + row_number() OVER () AS ok FROM {tbl})"
                               ).fetchone()[0]
        assert in_order  # the typed table is in file order (written as read, without a sort)
        con.execute(f"UPDATE \"{t.data}\" SET id = id || 'x' WHERE line % 3 = 0")  # as write_events and exports do
        con.execute(f"DELETE FROM \"{t.data}\" WHERE line % 7 = 0")
        assert con.execute(f"SELECT count(*), count(*) FILTER (WHERE _row = line AND (line % 3 = 0) = (id LIKE '%x')) "
                           f"FROM {tbl}").fetchone() == (n - n // 7, n - n // 7)
        con.execute("COMMIT")


def test_rows_whose_rowids_are_not_one_run_are_numbered_in_rowid_order(tmp_path):
    """The fallback of Loading.numbered (rowids with a gap, which a table written by one statement has not): the
    rows are numbered into a copy, in rowid order, from 2."""
    from unify_dash.model import roles

    con = duckdb.connect()
    ld = loader.Loading(con, tmp_path, roles.SYSTEM, None)
    con.execute("CREATE TEMP TABLE t AS SELECT i FROM range(10) r(i)")
    con.execute("DELETE FROM t WHERE i = 4")
    table, data, at = ld.numbered("t")
    assert table == data and con.execute(f'SELECT list(_row ORDER BY i), list(i ORDER BY i) FROM "{table}"'
                                         ).fetchone() == ([2, 3, 4, 5, 6, 7, 8, 9, 10], [0, 1, 2, 3, 5, 6, 7, 8, 9])
    assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'").fetchone()[0]
    con.execute(f'UPDATE "{data}" SET i = -1 WHERE {at} = 6')
    assert con.execute(f'SELECT i FROM "{table}" WHERE _row = 6').fetchone() == (-1,)
