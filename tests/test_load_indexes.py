"""A load's indexes are built after its data commit, one at a time (io/workspace.build_indexes): a build that
fails leaves the loaded workspace committed, consistent and usable, says so, and the next writable open of
the file builds what is missing."""

from __future__ import annotations

import argparse

import duckdb
import pytest
from test_loader import dump
from workspace_factory import write_workspace

from unify_dash.actions import optouts
from unify_dash.io import workspace as loader
from unify_dash.io.load import cli_load, load_workspace
from unify_dash.model import roles
from unify_dash.store import db

ALL_INDEXES = {name for t in db.schema.BULK_TABLES for name, _ in db.schema.key_indexes(t)} | {
    name for name, *_ in db.schema.SECONDARY_INDEXES}


def _indexes(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes() "
                                      "WHERE database_name = current_database()").fetchall()}


class FailingIndex:
    """A connection whose ``CREATE ... INDEX`` of one index fails as DuckDB does when out of memory."""

    def __init__(self, con, name: str):
        self._con, self._name, self.refused = con, name, 0

    def execute(self, query, params=None):
        if str(query).startswith("CREATE") and f" {self._name} ON " in str(query):
            self.refused += 1
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB "
                                              "(2.7 GiB/2.7 GiB used)")
        return self._con.execute(query, params) if params is not None else self._con.execute(query)

    def __getattr__(self, name):
        return getattr(self._con, name)


@pytest.mark.parametrize("bulk", [False, True])
def test_a_load_builds_every_index_after_its_commit(tmp_path, monkeypatch, bulk):
    if bulk:  # the events too are inserted in bulk (a first load of many): their indexes dropped, built after
        monkeypatch.setattr(loader, "EVENTS_BULK", 1)
    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    try:
        result = load_workspace(con, write_workspace(tmp_path / "ws"))
        # every index of the record tables, and of the events after a bulk insert (not the log's: not loaded)
        assert result["indexes_built"] == len(ALL_INDEXES) - 1 - (0 if bulk else 2)
        assert _indexes(con) >= ALL_INDEXES
        # the keys hold: a duplicate is refused by the index built after the commit
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO contacts (contact_id, email) SELECT contact_id, 'x' || email FROM contacts LIMIT 1")
    finally:
        con.close()


def test_a_failed_index_build_leaves_the_load_committed_and_usable(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "EVENTS_BULK", 1)
    path = tmp_path / "w.duckdb"
    folder = write_workspace(tmp_path / "ws")
    raw = db.connect(path)
    con = FailingIndex(raw, "idx_contacts_domain")
    try:
        generation = db.generation(raw)
        with pytest.raises(loader.IndexesPending) as exc:
            load_workspace(con, folder)
        message = str(exc.value)
        assert "is loaded (committed" in message and "idx_contacts_domain" in message and "\n" not in message
        assert "upgrade" in message and db.MEMORY_ENV in message
        assert exc.value.pending[0] == "idx_contacts_domain"
        assert con.refused == 1
        # the load is committed whole, exactly as a load whose indexes all build: records, events, settings,
        # its audit row, a new data generation
        reference = db.connect(None)
        load_workspace(reference, folder)
        assert dump(raw, skip_audit=True) == dump(reference, skip_audit=True)
        reference.close()
        assert raw.execute("SELECT count(*) FROM audit_log WHERE action = 'data.load'").fetchone()[0] == 1
        assert db.generation(raw) == generation + 1
        # every key was built before the secondary index that failed: the workspace's writes work
        have = _indexes(raw)
        assert {name for t in db.schema.BULK_TABLES for name, _ in db.schema.key_indexes(t)} <= have
        assert "idx_contacts_domain" not in have and set(exc.value.pending) == ALL_INDEXES - have
        # look-ups without the index give the same answers
        assert raw.execute("SELECT count(*) FROM contacts WHERE domain = 'initech.com'").fetchone()[0] >= 1
    finally:
        raw.close()
    # the next writable open builds what is missing, alone; then everything is there and a reload works
    con = db.connect(path)
    try:
        assert _indexes(con) >= ALL_INDEXES
        assert load_workspace(con, folder)["contacts"] == 5
    finally:
        con.close()


def test_a_failed_key_build_keeps_the_workspace_consistent_and_heals(tmp_path, monkeypatch):
    """The events' key (ON CONFLICT (event_id) of the ledger's writes) failing: the load is committed; the
    file's next writable open builds the key and the ledger's writes work again."""
    monkeypatch.setattr(loader, "EVENTS_BULK", 1)
    path = tmp_path / "w.duckdb"
    folder = write_workspace(tmp_path / "ws")
    raw = db.connect(path)
    try:
        with pytest.raises(loader.IndexesPending) as exc:
            load_workspace(FailingIndex(raw, "key_events_event_id"), folder)
        assert "key_events_event_id" in exc.value.pending
        events = raw.execute("SELECT count(*) FROM events").fetchone()[0]
        assert events > 0
    finally:
        raw.close()
    con = db.connect(path)
    try:
        assert "key_events_event_id" in _indexes(con)
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == events
        assert con.execute("SELECT count(DISTINCT event_id) FROM events").fetchone()[0] == events
        with db.transaction(con):  # the ledger's idempotent write needs the key
            con.execute("INSERT INTO events (event_id, occurred_at, type, email, source) "
                        "SELECT event_id, occurred_at, type, email, source FROM events LIMIT 1 "
                        "ON CONFLICT (event_id) DO NOTHING")
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == events
        email = con.execute("SELECT email FROM contacts WHERE contact_id NOT IN (SELECT contact_id FROM events "
                            "WHERE type = 'opt_out' AND contact_id IS NOT NULL) ORDER BY email LIMIT 1").fetchone()[0]
        assert not optouts.opt_out(con, roles.SYSTEM, email, source="admin")["already_opted_out"]
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == events + 1
    finally:
        con.close()


def test_the_cli_says_the_load_is_committed_when_an_index_fails(tmp_path, monkeypatch, capsys):
    from unify_dash import cli

    monkeypatch.setattr(loader, "EVENTS_BULK", 1)
    real = db.connect

    def connect(*args, **kwargs):
        return FailingIndex(real(*args, **kwargs), "idx_events_email")

    monkeypatch.setattr(db, "connect", connect)
    folder = write_workspace(tmp_path / "ws")
    code = cli.main(["load", str(folder), "--db", str(tmp_path / "w.duckdb")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: the workspace workspace is loaded (committed") and "idx_events_email" in err
    assert "Traceback" not in err
    monkeypatch.setattr(db, "connect", real)
    con = db.connect(tmp_path / "w.duckdb")
    try:
        assert "idx_events_email" in _indexes(con) and con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5
    finally:
        con.close()
    assert cli_load(argparse.Namespace(dir=str(folder), db=str(tmp_path / "w.duckdb"))) == 0
