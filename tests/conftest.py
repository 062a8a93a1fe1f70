import pytest

from unify_dash.store import db


@pytest.fixture
def con():
    """A fresh in-memory DuckDB with the schema."""
    connection = db.connect(None)
    yield connection
    connection.close()
