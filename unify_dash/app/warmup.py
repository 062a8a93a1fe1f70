"""The pages' shared caches computed before a browser asks for them (docs/benchmarks.md, "The app at 1M").

``unify-dash serve`` evaluates the workspace before the app listens (:func:`unify_dash.service.serve.warm`),
then calls :func:`start`: a background thread computes, through the same :func:`ui.cached` /
:func:`ui.shared` calls as the pages, the answers of each page's first view (Metrics of every Play,
Trends and the send-time forecast, CRM sync, Logs, Replies, Rule health), so a page's first visit
reads them instead of computing them (3-4 s each at 1M). The answers are keyed by the cache stamp
(:func:`ui.stamp`: data generation, workspace clock, delivery counter) like every cached answer:
a load, a tick or a send after the warm-up changes the stamp, and the pages compute the new numbers.

The calls of a page's first view are declared once, and the pages call them (the Metrics page's in
app/metrics_view.py, Trends' here: :func:`trends_defaults`, :func:`forecast_head`); tests/test_app_warmup.py
checks that a page's first run after a warm-up computes none of them again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from unify_dash.app import metrics_view, ui

LOG = logging.getLogger(__name__)
_started = threading.Lock()
_thread: threading.Thread | None = None


def trends_defaults() -> dict:
    """The Trends view's widgets' defaults (the threshold in percent, as its number input holds it)."""
    from unify_dash.reports import trends

    return {"period": next(iter(trends.PERIODS)), "threshold": int(trends.DEFAULT_THRESHOLD * 100),
            "least": trends.DEFAULT_MIN_CONTACTS}


def trends_view(play: str | None, period: str, threshold: int, least: int) -> dict:
    from unify_dash.reports import trends

    return ui.cached(trends.trends, play_id=play, period=period, threshold=threshold / 100, min_contacts=int(least))


def forecast_head(state: str | None, every: bool) -> dict:
    from unify_dash.reports import forecast

    return ui.cached(forecast.forecast, state=state, limit=0, only_stopped=not every)


def forecast_page(state: str | None, every: bool, offset: int, limit: int | None) -> dict:
    from unify_dash.reports import forecast

    return ui.cached(forecast.forecast, state=state, limit=limit, offset=offset, only_stopped=not every)


def _tasks() -> list[tuple[str, Callable[[], Any]]]:
    """(name, call) of every first view, the most visited first."""
    from unify_dash.actions import crmsync
    from unify_dash.actions import enrollments as lifecycle
    from unify_dash.model import settings
    from unify_dash.reports import metrics

    with ui.cursor() as cur:
        try:
            _, cfg = settings.settings_at(cur)
        except Exception:  # noqa: BLE001 - nothing loaded: the pages say what to do, nothing to warm
            return []
    tasks: list[tuple[str, Callable[[], Any]]] = [
        (f"metrics {p.id}", lambda p=p: metrics_view.first_view(p.id)) for p in cfg.plays]
    tasks.append(("pending versions", lambda: ui.cached(settings.pending_versions)))
    defaults = trends_defaults()
    tasks.append(("trends", lambda: trends_view(None, defaults["period"], defaults["threshold"], defaults["least"])))
    tasks.append(("crm", lambda: (ui.cached(crmsync.mappings), ui.shared(crmsync.provenance),
                                  ui.shared(crmsync.readonly_disagreements))))
    tasks.append(("logs", lambda: ui.cached(metrics.log_outcomes)))
    tasks.append(("replies", lambda: ui.cached(lifecycle.opt_out_reply_queue)))
    # last: the longest (24 s at 1M under load) and a view the Trends page opens only when asked
    tasks.append(("forecast", lambda: (forecast_head(None, False), forecast_page(None, False, 0, ui.PAGE_SIZE))))
    return tasks


def warm_caches() -> dict[str, float]:
    """Compute every first view's answers now; returns the seconds each took. A failure is logged and
    skipped: the page computes that answer itself on its first visit, as without a warm-up."""
    took: dict[str, float] = {}
    for name, call in _tasks():
        started = time.perf_counter()
        try:
            call()
        except Exception:  # noqa: BLE001 - a warm-up never stops the service
            LOG.warning("unify-dash warm-up: %s failed", name, exc_info=True)
            continue
        took[name] = round(time.perf_counter() - started, 3)
    return took


def _wait_for_runtime(seconds: float) -> None:
    """Wait up to ``seconds`` for Streamlit's runtime (the service starts it after this thread): a cached
    call before it exists makes its cache outside the runtime, and Streamlit logs "No runtime found"."""
    from streamlit import runtime

    deadline = time.monotonic() + seconds
    while not runtime.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _run(runtime_wait_s: float) -> None:
    try:  # below the pages' threads: a browser's request goes first (Linux: the nice value of this thread)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass
    _wait_for_runtime(runtime_wait_s)
    started = time.perf_counter()
    took = warm_caches()
    if os.environ.get("UNIFY_APP_TIMING"):
        ui.log_timing(f"warm-up ({', '.join(f'{k} {v:.1f} s' for k, v in took.items())})", started)


def start(runtime_wait_s: float = 0.0) -> threading.Thread:
    """Start the warm-up once per process (a daemon thread), after Streamlit's runtime exists or
    ``runtime_wait_s`` seconds have passed (``unify-dash serve`` starts the runtime after this call);
    returns the thread."""
    global _thread
    with _started:
        if _thread is None:
            _thread = threading.Thread(target=_run, args=(runtime_wait_s,), name="unify-dash-warm-up", daemon=True)
            _thread.start()
        return _thread
