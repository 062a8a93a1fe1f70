"""An external sender for the kill -9 test of the outbox: ``unify-dash sends --sender kill_sender:factory``.

Every ``deliver(message)`` appends one JSON line (idempotency key, enrollment, step, email) to the
file named by ``$KILL_SENDER_LOG`` and fsyncs it before returning: the log is what a provider
received. ``$KILL_SENDER_DELAY`` (seconds, default 0.003) makes a delivery take time, so that a
kill lands in the middle of a tick's deliveries.

Run as a script (``python tests/kill_sender.py DB UNTIL``) it drives ``run_until`` directly with the
same sender: that works against code without ``--sender`` too (the "before the outbox" figure).
"""

from __future__ import annotations

import json
import os
import sys
import time


class FileLogSender:
    def __init__(self, path: str, delay: float):
        self.path = path
        self.delay = delay

    def _log(self, message) -> None:
        line = json.dumps({"key": getattr(message, "idempotency_key", None), "enrollment_id": message.enrollment_id,
                           "step": int(message.step), "email": message.email})
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        time.sleep(self.delay)

    def deliver(self, message) -> str:
        self._log(message)
        return f"file:{getattr(message, 'idempotency_key', '') or message.enrollment_id}"

    def send(self, message) -> str:  # the sender protocol before the outbox
        return self.deliver(message)


def factory() -> FileLogSender:
    return FileLogSender(os.environ["KILL_SENDER_LOG"], float(os.environ.get("KILL_SENDER_DELAY", "0.003")))


if __name__ == "__main__":  # pragma: no cover - used by the measurement of the code before the outbox
    from unify_dash import scheduler
    from unify_dash.store import db

    con = db.connect(sys.argv[1])
    scheduler.run_until(con, db.parse_timestamp(sys.argv[2], "until"), sender=factory())
    con.close()
