"""store/db.py helpers: inserting the rows whose key a table does not hold yet (``insert_new``), checked
against DuckDB's own ``INSERT ... ON CONFLICT (key) DO NOTHING`` on an identical table."""

from __future__ import annotations

import duckdb
import pytest

from unify_dash.store import db


def _table(con, name: str, keys: list[str]) -> None:
    con.execute(f"CREATE TABLE {name} (k VARCHAR NOT NULL, v INTEGER)")
    con.execute(f"CREATE UNIQUE INDEX key_{name} ON {name}(k)")
    if keys:
        con.execute(f"INSERT INTO {name} SELECT unnest(?::VARCHAR[]), -1", [keys])


def _rows(con, name: str) -> list[tuple]:
    return con.execute(f"SELECT k, v FROM {name} ORDER BY k, v").fetchall()


# (keys the table holds, keys of the batch in order): every batch also gets v = its position
CASES = [
    ([], ["a", "b", "c"]),                        # all new
    (["b"], ["a", "b", "c"]),                     # one already there: not written again
    (["a", "b", "c"], ["a", "b", "c"]),           # all there: nothing written
    (["x"], []),                                  # an empty batch
    ([], ["a", "b", "a"]),                        # a key twice in the batch: as ON CONFLICT does
    ([f"k{i}" for i in range(0, 40, 3)], [f"k{i}" for i in range(40)]),  # more keys than one lookup list
]


@pytest.mark.parametrize("lookup_max", [db.KEY_LOOKUP_MAX, 0])  # index lookups, or the ON CONFLICT statement
@pytest.mark.parametrize(("there", "batch"), CASES)
def test_insert_new_writes_what_on_conflict_do_nothing_writes(con, monkeypatch, there, batch, lookup_max):
    monkeypatch.setattr(db, "KEY_LOOKUP_CHUNK", 7)
    monkeypatch.setattr(db, "KEY_LOOKUP_MAX", lookup_max)
    _table(con, "mine", there)
    _table(con, "reference", there)
    con.execute("CREATE TEMP TABLE batch AS SELECT unnest(?::VARCHAR[]) AS k, "
                "generate_subscripts(?::VARCHAR[], 1)::INTEGER AS v", [batch, batch])
    got = db.insert_new(con, "mine", "k", "SELECT k, v FROM batch WHERE v > ?", [0])
    expected = [r[0] for r in con.execute("INSERT INTO reference SELECT k, v FROM batch WHERE v > ? "
                                          "ON CONFLICT (k) DO NOTHING RETURNING k", [0]).fetchall()]
    assert _rows(con, "mine") == _rows(con, "reference")
    assert sorted(got) == sorted(expected)
    assert sorted(got) == sorted(set(batch) - set(there))


def test_insert_new_into_named_columns_and_the_rest_defaults(con):
    con.execute("CREATE TABLE t (k VARCHAR NOT NULL, v INTEGER DEFAULT 7, w VARCHAR)")
    con.execute("CREATE UNIQUE INDEX key_t ON t(k)")
    con.execute("INSERT INTO t VALUES ('a', 1, 'old')")
    assert db.insert_new(con, "t", "k", "SELECT ? AS k, ? UNION ALL SELECT 'b', 'new'", ["a", "again"],
                         columns=["k", "w"]) == ["b"]
    assert con.execute("SELECT * FROM t ORDER BY k").fetchall() == [("a", 1, "old"), ("b", 7, "new")]


def test_insert_new_refuses_a_null_key_like_the_plain_insert(con):
    _table(con, "t", [])
    with pytest.raises(Exception, match="NOT NULL"):
        db.insert_new(con, "t", "k", "SELECT NULL::VARCHAR AS k, 1 AS v")
    assert _rows(con, "t") == []


@pytest.mark.parametrize(("there", "batch"), [c for c in CASES if len(set(c[1])) == len(c[1])])
def test_insert_new_unchecked_writes_the_new_keys_or_fails_whole(con, there, batch):
    # checked=False (the scheduler's tick): one plain INSERT; a key already there is refused by the
    # unique index and the transaction aborts, so nothing of it stays (the tick redoes it checked)
    _table(con, "mine", there)
    con.execute("CREATE TEMP TABLE batch AS SELECT unnest(?::VARCHAR[]) AS k, "
                "generate_subscripts(?::VARCHAR[], 1)::INTEGER AS v", [batch, batch])
    before = _rows(con, "mine")
    con.execute("BEGIN TRANSACTION")
    if set(batch) & set(there):
        with pytest.raises(duckdb.ConstraintException, match="Duplicate key"):
            db.insert_new(con, "mine", "k", "SELECT k, v FROM batch", checked=False)
        con.execute("ROLLBACK")
        assert _rows(con, "mine") == before
    else:
        got = db.insert_new(con, "mine", "k", "SELECT k, v FROM batch", checked=False)
        con.execute("COMMIT")
        assert sorted(got) == sorted(batch)
        assert _rows(con, "mine") == sorted(before + [(k, i + 1) for i, k in enumerate(batch)])


def test_insert_new_runs_its_select_once(con):
    # the rows of the select are kept for the look-up and the insert: with a select whose keys differ from
    # one run to the next, the keys returned are the keys written
    _table(con, "t", [])
    got = db.insert_new(con, "t", "k", "SELECT 'k' || (random() * 1e12)::BIGINT AS k, x AS v FROM range(5) r(x)")
    assert len(got) == 5
    assert sorted(got) == [k for k, _v in _rows(con, "t")]
