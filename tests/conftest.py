from pathlib import Path

import pytest

from unify_dash.io import demo
from unify_dash.io.load import load_workspace
from unify_dash.store import db


@pytest.fixture
def con():
    """A fresh in-memory DuckDB with the schema."""
    connection = db.connect(None)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """The demo workspace (400 contacts) loaded into a closed database file that nothing opens: tests copy it."""
    root = tmp_path_factory.mktemp("app")
    demo.generate(root / "ws", contacts=400, seed=7)
    path = root / "template.duckdb"
    con = db.connect(path)
    load_workspace(con, root / "ws")
    con.close()
    return path
