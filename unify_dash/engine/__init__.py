"""The evaluation engine: one package answers "would this contact be emailed now?" for the send
scheduler and for every number on screen.

- :mod:`.evaluator`: one set-based pass over the contacts -> per-contact match masks and groups (cached)
- :mod:`.funnel`: the levels and the funnel of a Play, numpy over groups (every bucket defined once)
- :mod:`.impact`: what-if counts, overlap, drill-down lists with reasons
- :mod:`.decisions`: Play entry and send-time decisions for the scheduler
- :mod:`.explain`: one contact's Exclusion tab

Callers use the names below.
"""

from unify_dash.engine.decisions import enters_first, entry_decisions, send_decisions
from unify_dash.engine.evaluator import (
           COUNT_KEYS,
           EVAL_DB,
           EXCLUSION_KEYS,
           Evaluation,
           clear_cache,
           evaluate,
           evaluation,
)
from unify_dash.engine.explain import explain
from unify_dash.engine.impact import bucket_groups, drilldown, impact, overlap, overlap_matrix

__all__ = ["COUNT_KEYS", "EVAL_DB", "EXCLUSION_KEYS", "Evaluation", "bucket_groups", "clear_cache", "drilldown",
           "enters_first", "entry_decisions", "evaluate", "evaluation", "explain", "impact", "overlap", "overlap_matrix",
           "send_decisions"]
