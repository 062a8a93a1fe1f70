"""Hostile and careless input at the edges of the loader and the database (issue 10).

Paths: a server folder is confined to the workspace root (UNIFY_WORKSPACES), resolved, never a glob
pattern, and no content of a file outside the root reaches a message. Clear errors: a held lock, a
full disk, a closed pipe and a missing database are one ``error:`` line saying what to do, never a
traceback and never a false "loaded". Values: text exactly as written, any valid CSV line ending,
timestamps and numbers a later read can hold.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from workspace_factory import (
    CONTACTS_CSV,
    EVENTS_CSV,
    OPPORTUNITIES_CSV,
    replace_row,
    with_row,
    write_workspace,
)

from unify_dash import cli
from unify_dash.errors import LoadError, ValidationError
from unify_dash.io import demo, paths
from unify_dash.io.load import load_workspace
from unify_dash.store import db

ROOT = Path(__file__).resolve().parent.parent
PASSWD_LINE = "root:x:0:0"  # the first line of /etc/passwd on every Linux


def run_cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != paths.WORKSPACES_ENV}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "unify_dash", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=300)


def assert_one_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 1, one ``error:`` line (plus a LoadError's ``  - `` problem lines), no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.rstrip("\n").split("\n")
    assert lines[0].startswith("error: "), proc.stderr
    assert all(line.startswith("  - ") for line in lines[1:]), proc.stderr
    assert "loaded" not in proc.stdout
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    return proc.stderr


def contacts_of(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT contact_id, email, first_name, title FROM contacts ORDER BY contact_id").fetchall()
    finally:
        con.close()


# --- paths ---------------------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A workspace root with a good workspace ``good`` in it, and a workspace ``outside`` next to it."""
    r = tmp_path / "root"
    write_workspace(r, name="good")
    write_workspace(tmp_path, name="outside")
    monkeypatch.setenv(paths.WORKSPACES_ENV, str(r))
    return r.resolve()


@pytest.mark.parametrize("typed", ["/", "../../etc", "..", "good/../..", "~", "~/good", "/etc", "{outside}",
                                   "link_out", "good/../link_out"])
def test_server_folders_outside_the_root_are_refused(root, typed):
    (root / "link_out").symlink_to(root.parent / "outside")
    typed = typed.format(outside=root.parent / "outside")
    with pytest.raises(paths.PathRefused) as exc:
        paths.resolve_workspace(typed)
    assert "workspace root" in str(exc.value) and str(root) in str(exc.value)


def test_server_folders_inside_the_root_resolve(root):
    (root / "link_in").symlink_to(root / "good")
    assert paths.resolve_workspace("good") == root / "good"
    assert paths.resolve_workspace(" good ") == root / "good"
    assert paths.resolve_workspace(str(root / "good")) == root / "good"  # absolute, inside
    assert paths.resolve_workspace("link_in") == root / "good"  # a link that stays inside
    with pytest.raises(paths.PathRefused, match="no such folder"):
        paths.resolve_workspace("missing")


def test_the_root_defaults_to_data(monkeypatch):
    monkeypatch.delenv(paths.WORKSPACES_ENV, raising=False)
    assert paths.workspace_root() == Path("data").resolve()
    assert paths.cli_root() is None  # the command line is confined only when the variable is set


def test_a_file_linked_out_of_the_root_is_refused_unread(root, con):
    ws = root / "good"
    (ws / "contacts.csv").unlink()
    (ws / "contacts.csv").symlink_to("/etc/passwd")
    with pytest.raises(LoadError) as exc:
        load_workspace(con, "good", root=root)
    text = str(exc.value) + " ".join(str(p) for p in exc.value.problems)
    assert PASSWD_LINE not in text and "/bin/" not in text
    (problem,) = [p for p in exc.value.problems if p.file == "contacts.csv"]
    assert "outside the workspace root" in problem.message and problem.row is None


@pytest.mark.parametrize("name", ["settings.yaml", "workspace.yaml", "exclusions.yaml", "events.csv"])
def test_every_file_the_loader_reads_is_confined(root, con, tmp_path, name):
    secret = tmp_path / f"secret-{name}"
    secret.write_text("SECRET-CONTENT\n", encoding="utf-8")
    target = root / "good" / name
    if target.exists():
        target.unlink()
    target.symlink_to(secret)
    with pytest.raises(LoadError) as exc:
        load_workspace(con, "good", root=root)
    assert any(p.file == name and "outside the workspace root" in p.message for p in exc.value.problems)
    assert "SECRET" not in str(exc.value) + "".join(str(p) for p in exc.value.problems)


def test_an_export_folder_linked_out_of_the_root_is_neither_read_nor_listed(root, con, tmp_path):
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "payroll-2026.csv").write_text("name,salary\nx,1\n", encoding="utf-8")
    (root / "good" / "salesforce").symlink_to(outside)
    with pytest.raises(LoadError) as exc:
        load_workspace(con, "good", root=root)
    assert [p.file for p in exc.value.problems] == ["salesforce/"]
    assert "payroll" not in str(exc.value)


def test_without_a_root_links_are_followed(tmp_path, con):
    """The command line's default (the owner's shell): a workspace may link to files elsewhere."""
    ws = write_workspace(tmp_path, name="ws")
    real = tmp_path / "exports" / "contacts.csv"
    real.parent.mkdir()
    (ws / "contacts.csv").rename(real)
    (ws / "contacts.csv").symlink_to(real)
    assert load_workspace(con, ws)["contacts"] == 5


@pytest.mark.parametrize("name", ["ws[1]", "w*", "w?", "ws[!x]", "a]b"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_folder_names_with_glob_characters_are_read_literally(tmp_path, con, name, fmt):
    """DuckDB reads a path as a glob: 'ws[1]' would match ws1, 'w*' any w-folder."""
    decoys = {"ws[1]": "ws1", "w*": "wa", "w?": "wb", "ws[!x]": "wsy", "a]b": "ab"}
    decoy = write_workspace(tmp_path, name=decoys[name])
    (decoy / "contacts.csv").write_text(CONTACTS_CSV.replace(",Ana,", ",DECOY,"), encoding="utf-8")
    ws = write_workspace(tmp_path, name=name)
    if fmt == "parquet":
        for folder in (decoy, ws):
            c = duckdb.connect()
            c.execute("COPY (SELECT * FROM read_csv(?, all_varchar = true)) TO ? (FORMAT parquet)",
                      [paths.duckdb_literal(folder / "contacts.csv"), str(folder / "contacts.parquet")])
            c.close()
            (folder / "contacts.csv").unlink()
    load_workspace(con, ws)
    assert con.execute("SELECT first_name FROM contacts WHERE contact_id = 'c1'").fetchone() == ("Ana",)


def test_duckdb_literal_escapes_only_glob_characters(tmp_path):
    assert paths.duckdb_literal(tmp_path / "plain.csv") == str((tmp_path / "plain.csv").resolve())
    assert paths.duckdb_literal(tmp_path / "a[1]*?.csv").endswith("a[[]1[]][*][?].csv")


# --- the database: held, missing, full -------------------------------------------------------------------------


@contextlib.contextmanager
def holder(path: Path):
    """Another process holding the database file open for writing (the app, or a load under way)."""
    proc = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                             "print('ready', flush=True); sys.stdin.read()", str(path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc.pid
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("loaded")
    ws = write_workspace(folder)
    path = folder / "unify.duckdb"
    con = db.connect(path)
    load_workspace(con, ws)
    con.close()
    return path


@pytest.mark.parametrize("verb", [["load", "{ws}"], ["explain", "bob@acme.com"], ["sends", "--until", "2026-12-01"],
                                  ["impact", "--play", "play_main"]])
def test_a_database_held_by_another_process_names_the_holder(loaded_db, tmp_path, verb):
    path = tmp_path / "held.duckdb"
    shutil.copy(loaded_db, path)
    ws = write_workspace(tmp_path)
    with holder(path) as pid:
        proc = run_cli(*[a.format(ws=ws) for a in verb], "--db", str(path))
    assert_one_error(proc, f"PID {pid}", "in use by another process", "wait for it to finish or stop it")


def test_connect_to_a_held_database_raises_a_user_error(loaded_db, tmp_path):
    path = tmp_path / "held.duckdb"
    shutil.copy(loaded_db, path)
    with holder(path) as pid, pytest.raises(db.DatabaseError, match=f"PID {pid}"):
        db.connect(path, read_only=True)


def test_not_a_database_is_an_error(tmp_path):
    path = tmp_path / "contacts.duckdb"
    path.write_text(CONTACTS_CSV, encoding="utf-8")
    assert_one_error(run_cli("explain", "bob@acme.com", "--db", str(path)), "is not a DuckDB database")


def test_a_closed_pipe_is_no_traceback(loaded_db, tmp_path):
    """``unify-dash explain ... | head``: the reader is gone before the output is written."""
    path = tmp_path / "unify.duckdb"
    shutil.copy(loaded_db, path)
    for extra in ([], ["--json"]):
        proc = subprocess.Popen([sys.executable, "-m", "unify_dash", "explain", "bob@acme.com", "--db", str(path),
                                 *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        proc.stdout.close()  # like head after its lines: every write now fails with EPIPE
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 1
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


class FailingAt:
    """A connection whose ``statement`` fails as DuckDB fails on a full disk (the seam for machines that
    cannot mount a small filesystem; the real thing is test_a_full_disk_never_reports_a_false_loaded)."""

    def __init__(self, con, statement: str):
        self._con, self.statement = con, statement

    def execute(self, query, *args):
        if query.strip().upper() == self.statement:
            if self.statement == "COMMIT":  # DuckDB keeps nothing of a commit it could not write
                self._con.execute("ROLLBACK")
                raise duckdb.TransactionException('TransactionContext Error: Failed to commit: Could not write '
                                                  'file "x.duckdb.wal": No space left on device')
            raise duckdb.FatalException('FATAL Error: Failed to create checkpoint because of error: Could not '
                                        'write file "x.duckdb": No space left on device')
        return self._con.execute(query, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_a_full_disk_at_commit_changes_nothing(loaded_db, tmp_path):
    path = tmp_path / "unify.duckdb"
    shutil.copy(loaded_db, path)
    before = contacts_of(path)
    ws = write_workspace(tmp_path, {"contacts.csv": CONTACTS_CSV.replace(",Ana,", ",Changed,")})
    con = db.connect(path)
    with pytest.raises(db.DatabaseError) as exc:
        load_workspace(FailingAt(con, "COMMIT"), ws)
    con.close()
    assert "no space left" in str(exc.value) and "nothing was changed" in str(exc.value)
    assert "free at least" in str(exc.value) and "MB" in str(exc.value)
    assert contacts_of(path) == before


def test_a_full_disk_after_commit_is_an_error_not_loaded(loaded_db, tmp_path):
    path = tmp_path / "unify.duckdb"
    shutil.copy(loaded_db, path)
    con = db.connect(path)
    with pytest.raises(db.DatabaseError) as exc:
        load_workspace(FailingAt(con, "CHECKPOINT"), write_workspace(tmp_path))
    con.close()
    assert "committed in its write-ahead log" in str(exc.value) and "free at least" in str(exc.value)


def test_a_load_reopens_the_file_before_it_says_loaded(loaded_db, tmp_path, monkeypatch, capsys):
    path = tmp_path / "unify.duckdb"
    shutil.copy(loaded_db, path)
    seen = []
    real = db.verify_reopens

    def spy(p, generation):
        seen.append((str(p), generation))
        return real(p, generation)

    monkeypatch.setattr(db, "verify_reopens", spy)
    assert cli.main(["load", str(write_workspace(tmp_path)), "--db", str(path)]) == 0
    assert "loaded" in capsys.readouterr().out
    con = db.connect(path)
    assert seen == [(str(path), db.generation(con))]
    con.close()


@contextlib.contextmanager
def small_disk(folder: Path, kilobytes: int):
    """A tmpfs of ``kilobytes`` mounted at ``folder`` (root only; skipped where mounting is not allowed)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here ({done.stderr.strip()}); the seam tests cover this")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def grow(folder: Path, kilobytes: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kilobytes}k", str(folder)], check=True)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_never_reports_a_false_loaded(tmp_path):
    """A real full disk: a second load into a database on a small tmpfs, the disk 0.5 MB larger each time
    until the load fits. Every attempt either says "loaded" and the file reopens read-write on that same
    disk with the new data, or is one error line: "nothing was changed" (the old data is there when the
    disk grows) or "committed in its write-ahead log" (the new data is there when the disk grows).
    Measured (600 contacts, a 6.7 MB file): the first attempt fails at commit, the next three after it, then
    a load fits; before the checkpoint and reopen checks, the middle ones printed "loaded" and left a file
    that no read-write open could replay."""
    old_ws, new_ws = tmp_path / "old", tmp_path / "new"
    demo.generate(old_ws, contacts=600, seed=3)
    # the second load brings the same history (a load may not change recorded opt-outs: docs/ledger.md)
    # with every contact's title changed, so that the new data is told from the old
    shutil.copytree(old_ws, new_ws)
    people = pd.read_csv(new_ws / "contacts.csv", dtype=str, keep_default_na=False)
    people["title"] = people["title"] + " (updated)"
    people.to_csv(new_ws / "contacts.csv", index=False)
    base = tmp_path / "base.duckdb"
    assert run_cli("load", str(old_ws), "--db", str(base)).returncode == 0
    old, size = contacts_of(base), base.stat().st_size // 1024
    outcomes = []
    for step in range(1, 30):
        mnt = tmp_path / f"mnt{step}"
        with small_disk(mnt, size + 256 + size // 4 * (step - 1)):  # from 256 KB free, a quarter file more each time
            target = mnt / "unify.duckdb"
            shutil.copy(base, target)
            proc = run_cli("load", str(new_ws), "--db", str(target))
            if proc.returncode == 0:
                assert proc.stdout.startswith("loaded") and "Traceback" not in proc.stderr
                con = db.connect(target)  # read-write, on the same full disk: replays nothing
                con.close()
                assert contacts_of(target) != old
                outcomes.append("loaded")
                break
            err = assert_one_error(proc, "no space left on the disk")
            grow(mnt, size * 4 + 65536)
            now = contacts_of(target)
            if "nothing was changed" in err:
                assert now == old
                outcomes.append("unchanged")
            else:
                assert "committed in its write-ahead log" in err and now != old
                outcomes.append("committed")
    assert outcomes[-1] == "loaded" and len(outcomes) > 1, outcomes


# --- values ----------------------------------------------------------------------------------------------------


def test_whitespace_only_text_is_kept_as_written(tmp_path, con):
    contacts = replace_row(CONTACTS_CSV, 3, "c2,bob@acme.com,   ,\t,\" \",US,,,,,false,false,false,,,2026-02-01")
    ws = write_workspace(tmp_path, {"contacts.csv": contacts})
    load_workspace(con, ws)
    assert con.execute("SELECT first_name, last_name, title FROM contacts WHERE contact_id = 'c2'").fetchone() == (
        "   ", "\t", " ")
    # an empty cell is still no value
    assert con.execute("SELECT title FROM contacts WHERE contact_id = 'c5'").fetchone() == ("Director",)
    assert con.execute("SELECT sf_contact_id FROM contacts WHERE contact_id = 'c2'").fetchone() == (None,)


def test_a_reversal_with_a_blank_permission_record_is_refused(tmp_path, con):
    events = with_row(EVENTS_CSV, "ev9,2026-11-25T10:00:00,opt_out_reversal,eve@initech.com,,,,,,,,,\"   \"")
    with pytest.raises(LoadError) as exc:
        load_workspace(con, write_workspace(tmp_path, {"events.csv": events}))
    (p,) = exc.value.problems
    assert (p.file, p.row, p.column) == ("events.csv", 5, "detail") and "permission record" in p.message


def _lines(text: str, ends: list[str], rows: dict[int, str] | None = None) -> str:
    """The CSV ``text`` (one record a line) with spreadsheet rows replaced by ``rows`` (which may hold
    quoted line breaks), each line ended by the next of ``ends`` in turn."""
    lines = text.rstrip("\n").split("\n")
    for number, row in (rows or {}).items():
        lines[number - 1] = row
    return "".join(r + ends[i % len(ends)] for i, r in enumerate(lines))


@pytest.mark.parametrize("ends", [["\r\n", "\n"], ["\n", "\r\n", "\r\n"], ["\r"], ["\r\n"], ["\n"]],
                         ids=["crlf-lf", "lf-crlf", "cr", "crlf", "lf"])
def test_any_valid_line_ending_loads_with_values_exact(tmp_path, con, ends):
    contacts = _lines(CONTACTS_CSV, ends, {2: "c1,ana@acme.com,Ana,\"Lo\rpez\",\"VP\r\nSales\",US,,,,,,,,,,",
                                           3: "c2,bob@acme.com,Bob,Smith,\"Line\nbreak\",US,,,,,,,,,,"})
    ws = write_workspace(tmp_path, {"contacts.csv": contacts.encode()})
    load_workspace(con, ws)
    rows = dict(con.execute("SELECT contact_id, [last_name, title] FROM contacts").fetchall())
    assert rows["c1"] == ["Lo\rpez", "VP\r\nSales"] and rows["c2"] == ["Smith", "Line\nbreak"]
    assert len(rows) == 5


def test_a_mixed_line_ending_file_still_names_bad_rows(tmp_path, con):
    contacts = replace_row(CONTACTS_CSV, 4, "c3,not-an-email,Carol,Jones,Founder,UK,,,,101,false,false,true,,,")
    ws = write_workspace(tmp_path, {"contacts.csv": _lines(contacts, ["\r\n", "\n"]).encode()})
    with pytest.raises(LoadError) as exc:
        load_workspace(con, ws)
    (p,) = exc.value.problems
    assert (p.file, p.row, p.column) == ("contacts.csv", 4, "email")


@pytest.mark.parametrize("text, reason", [
    ('x,"never closed\n', "not closed"),
    ('x,"closed"then more\n', "must be doubled"),
])
def test_a_mixed_line_ending_file_that_is_not_csv_is_refused(tmp_path, con, text, reason):
    body = "contact_id,email\r\nc1,a@x.com\n" + text
    with pytest.raises(LoadError) as exc:
        load_workspace(con, write_workspace(tmp_path, {"contacts.csv": body.encode()}))
    assert any(p.file == "contacts.csv" and reason in p.message for p in exc.value.problems), exc.value.problems


BAD_TIMES = ["2026-11-01T10:00:00+25:00", "2026-11-01T10:00:00+15:00", "2026-11-01T10:00:00+05:60", "0000-01-01",
             "10000-01-01", "9999-12-31T23:00:00-02:00", "0001-01-01T00:30:00+01:00"]


@pytest.mark.parametrize("value", BAD_TIMES)
def test_timestamps_a_later_read_cannot_hold_are_refused(tmp_path, con, value):
    contacts = CONTACTS_CSV.replace("2026-11-01T10:00:00", value)
    with pytest.raises(LoadError) as exc:
        load_workspace(con, write_workspace(tmp_path, {"contacts.csv": contacts}))
    (p,) = exc.value.problems
    assert (p.file, p.row, p.column) == ("contacts.csv", 2, "last_contacted_at") and "years 1 to 9999" in p.message


@pytest.mark.parametrize("value, expected", [
    ("2026-11-01T10:00:00+14:00", dt.datetime(2026, 10, 31, 20)), ("2026-11-01T10:00:00-12:00", dt.datetime(2026, 11, 1, 22)),
    ("2026-11-01T10:00:00+0530", dt.datetime(2026, 11, 1, 4, 30)), ("9999-12-31T23:59:59", dt.datetime(9999, 12, 31, 23, 59, 59)),
    ("0001-01-01", dt.datetime(1, 1, 1)),
])
def test_timestamps_at_the_edges_load(tmp_path, con, value, expected):
    load_workspace(con, write_workspace(tmp_path, {"contacts.csv": CONTACTS_CSV.replace("2026-11-01T10:00:00", value)}))
    assert con.execute("SELECT last_contacted_at FROM contacts WHERE contact_id = 'c1'").fetchone() == (expected,)


@pytest.mark.parametrize("value", ["1e-400", "-1e-400", "1e-310", "1_000", "1e309", "0x10", "nan"])
def test_numbers_that_are_not_the_number_written_are_refused(tmp_path, con, value):
    opps = OPPORTUNITIES_CSV.replace(",25000,", f",{value},")
    with pytest.raises(LoadError) as exc:
        load_workspace(con, write_workspace(tmp_path, {"opportunities.csv": opps}))
    (p,) = exc.value.problems
    assert (p.file, p.row, p.column) == ("opportunities.csv", 2, "amount") and "is not a number" in p.message


def test_numbers_at_the_edges_load(tmp_path, con):
    opps = OPPORTUNITIES_CSV.replace(",25000,", ",1e-300,").replace(",5000,", ",0e-400,")
    load_workspace(con, write_workspace(tmp_path, {"opportunities.csv": opps}))
    assert sorted(con.execute("SELECT amount FROM opportunities").fetchall()) == [(0.0,), (1e-300,)]


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-02:00", "2026-11-26T09:00:00+23:00"])
def test_parse_timestamp_refuses_what_it_cannot_hold(value):
    with pytest.raises(ValidationError):
        db.parse_timestamp(value, "--at")


# --- every case through the command line: one error line or a literal load, never a traceback ---------------


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("cases")
    root = base / "root"
    write_workspace(root, name="good")
    pw = write_workspace(root, name="pw")
    (pw / "contacts.csv").unlink()
    (pw / "contacts.csv").symlink_to("/etc/passwd")
    decoy = write_workspace(base, name="ws1")
    (decoy / "contacts.csv").write_text(CONTACTS_CSV.replace(",Ana,", ",DECOY,"), encoding="utf-8")
    env = {paths.WORKSPACES_ENV: str(root)}
    out = {
        "refused: /": (["load", "/"], env, ["outside the workspace root"]),
        "refused: ../../etc": (["load", "../../etc"], env, ["outside the workspace root"]),
        "refused: contacts.csv -> /etc/passwd": (["load", str(pw)], env, ["outside the workspace root"]),
        "literal: ws[1]": (["load", str(write_workspace(base, name="ws[1]"))], {}, None),
        "literal: mixed CRLF/LF": (["load", str(write_workspace(base, {
            "contacts.csv": _lines(CONTACTS_CSV, ["\r\n", "\n"]).encode()}, name="mixed"))], {}, None),
        "literal: bare CR in a quoted value": (["load", str(write_workspace(base, {
            "contacts.csv": CONTACTS_CSV.replace("VP Sales", '"VP\rSales"')}, name="cr"))], {}, None),
        "literal: whitespace-only text": (["load", str(write_workspace(base, {
            "contacts.csv": CONTACTS_CSV.replace(",Engineer,", ",   ,")}, name="blank"))], {}, None),
    }
    for i, value in enumerate(BAD_TIMES):
        ws = write_workspace(base, {"contacts.csv": CONTACTS_CSV.replace("2026-11-01T10:00:00", value)}, name=f"t{i}")
        out[f"refused: {value}"] = (["load", str(ws)], {}, ["contacts.csv, row 2, column 'last_contacted_at'"])
    ws = write_workspace(base, {"opportunities.csv": OPPORTUNITIES_CSV.replace(",25000,", ",1e-400,")}, name="tiny")
    out["refused: 1e-400"] = (["load", str(ws)], {}, ["opportunities.csv, row 2, column 'amount'"])
    for verb in (["explain", "bob@acme.com"], ["impact", "--play", "play_main"], ["sends", "--until", "2026-12-01"]):
        out[f"refused: {verb[0]} --db missing"] = (verb, {}, ["no database at"])
    out["refused: explain --at year 10000"] = (["explain", "bob@acme.com", "--at", "9999-12-31T23:00:00-02:00"], {},
                                              ["outside the years 1 to 9999"])
    return {"base": base, "cases": out}


CASE_NAMES = ["refused: /", "refused: ../../etc", "refused: contacts.csv -> /etc/passwd", "literal: ws[1]",
              "literal: mixed CRLF/LF", "literal: bare CR in a quoted value", "literal: whitespace-only text",
              *[f"refused: {v}" for v in BAD_TIMES], "refused: 1e-400", "refused: explain --db missing",
              "refused: impact --db missing", "refused: sends --db missing", "refused: explain --at year 10000"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_every_case_on_the_command_line(cases, loaded_db, tmp_path, name):
    args, env, needles = cases["cases"][name]
    target = tmp_path / "unify.duckdb"
    if "--at" in args:
        shutil.copy(loaded_db, target)
    proc = run_cli(*args, "--db", str(target), env=env)
    if needles is None:  # loaded literally
        assert proc.returncode == 0 and proc.stdout.startswith("loaded"), proc.stderr
        assert "Traceback" not in proc.stderr
        rows = {r[0]: r[1:] for r in contacts_of(target)}
        assert len(rows) == 5 and rows["c1"][:2] == ("ana@acme.com", "Ana")  # the folder's own file, not the decoy's
        expected = {"literal: bare CR in a quoted value": ("c1", "VP\rSales"),
                    "literal: whitespace-only text": ("c2", "   ")}.get(name, ("c2", "Engineer"))
        assert rows[expected[0]][2] == expected[1]  # the title exactly as written
        return
    err = assert_one_error(proc, *needles)
    assert PASSWD_LINE not in err
    if name in ("refused: /", "refused: ../../etc") or "missing" in name:
        assert not target.exists()  # a refused path or a missing database never creates a file


@pytest.mark.parametrize("message, holder_text", [
    ('IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /root/.pyenv/bin/python3.11 '
     '(PID 27954). See also https://duckdb.org/docs/current/connect/concurrency', "(PID 27954, /root/.pyenv/bin/python3.11)"),
    ('IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /usr/bin/python3 (PID 12) by user '
     'bob. See also https://duckdb.org', "(PID 12, /usr/bin/python3)"),
    ('IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /opt/app.v2/run.', "(/opt/app.v2/run)"),
])
def test_the_lock_message_names_the_holder_when_duckdb_does(message, holder_text):
    text = str(db.user_error(duckdb.IOException(message), "/x.duckdb"))
    assert text.startswith("the database /x.duckdb is in use by another process " + holder_text), text


def test_running_out_of_memory_says_so_and_what_to_do_and_changes_nothing(tmp_path):
    """DuckDB at its memory limit (here 20 MB and no folder to spill to): the error names the limit and the
    way to raise it, never ``None`` for the file, and the transaction it broke left the table as it was."""
    path = tmp_path / "small.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 1 AS i")
    con.execute("SET memory_limit = '20MB'")
    con.execute("SET temp_directory = ''")
    with pytest.raises(duckdb.OutOfMemoryException) as raised, db.transaction(con):
        con.execute("INSERT INTO t SELECT i FROM range(3000000) r(i)")
        con.execute("SELECT repeat('x', 100) || i AS s, count(*) FROM range(3000000) r(i) GROUP BY s").fetchall()
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    for where in (str(path), None):
        text = str(db.user_error(raised.value, where))
        assert text.startswith("not enough memory for "), text
        assert "--memory-limit" in text and db.MEMORY_ENV in text and "nothing was changed" in text, text
        assert "None" not in text and "used)" in text, text
    con.close()
