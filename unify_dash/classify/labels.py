"""The labels of the reply classifier (one declaration, imported by rules, model and classifier)."""

OPT_OUT = "opt_out"
OUT_OF_OFFICE = "out_of_office"
POSITIVE = "positive"
NOT_NOW = "not_now"  # later: "next quarter", "after the budget", "ping me in March" (a plain decline is OTHER)
OTHER = "other"
# the classes a reply is labelled with (in a corpus) and the model learns
LABELS = (OPT_OUT, OUT_OF_OFFICE, POSITIVE, NOT_NOW, OTHER)
# an output only: the classifier cannot decide and the reply may be an opt-out; it goes to the opt-out
# queue for a person to read, never silently to "other" (PRODUCT.md, second round)
NEEDS_REVIEW = "needs_review"
OUTPUTS = (*LABELS, NEEDS_REVIEW)
# the labels that put a reply on the opt-out queue
QUEUE_LABELS = (OPT_OUT, NEEDS_REVIEW)
# the label of round 1-5 that joined a decline and "not now"; stored reply events of workspaces written
# before round 6 still carry it. It is shown as it was, counted as its own key, and is never an opt-out
# (not in QUEUE_LABELS); the classifier no longer returns it.
FORMER_NEGATIVE = "negative"
