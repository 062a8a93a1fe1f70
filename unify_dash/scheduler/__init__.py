"""The send scheduler: advances the workspace clock over Plays and sequences, asking the engine at
each tick who enters and which steps go out."""

from unify_dash.scheduler.outbox import load_sender  # noqa: F401
from unify_dash.scheduler.run import (  # noqa: F401
    Message,
    RecordingSender,
    Sender,
    cli_sends,
    enroll_one,
    format_summary,
    parse_duration,
    run_until,
    tick,
)
