"""One running service: the dashboard, the send scheduler and the CLI on one database at once.

DuckDB lets one process open a database file read-write and no other process open it at all. So
while ``unify-dash serve`` runs, that one process owns the file: the Streamlit app, the scheduler
worker thread and a loopback HTTP API share its DuckDB instance, and the CLI, finding the service
file beside the database, forwards its command line to the API instead of opening the file. See
docs/service.md.

This package's ``__init__`` imports only the client side (the CLI imports it on every call);
``serve``, ``api`` and ``worker`` are imported by ``unify-dash serve``.
"""

from unify_dash.service.client import forward_if_running  # noqa: F401
from unify_dash.service.files import ServiceInfo, find_service  # noqa: F401
