"""The evaluation engine: one package answers "would this contact be emailed now?" for the send
scheduler and for every number on screen. Callers use the names below; the modules behind them are
internal."""

from unify_dash.engine.evaluate import (  # noqa: F401
    COUNT_KEYS,
    EVAL_DB,
    EXCLUSION_KEYS,
    Evaluation,
    bucket_groups,
    clear_cache,
    drilldown,
    entry_decisions,
    evaluate,
    evaluation,
    explain,
    impact,
    overlap,
    overlap_matrix,
    send_decisions,
)
