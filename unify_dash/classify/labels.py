"""The labels of the reply classifier (one declaration, imported by rules, model and classifier)."""

OPT_OUT = "opt_out"
OUT_OF_OFFICE = "out_of_office"
POSITIVE = "positive"
NEGATIVE = "negative"
OTHER = "other"
# the classes a reply is labelled with (in a corpus) and the model learns
LABELS = (OPT_OUT, OUT_OF_OFFICE, POSITIVE, NEGATIVE, OTHER)
# an output only: the classifier cannot decide and the reply may be an opt-out; it goes to the opt-out
# queue for a person to read, never silently to "other" (PRODUCT.md, second round)
NEEDS_REVIEW = "needs_review"
OUTPUTS = (*LABELS, NEEDS_REVIEW)
# the labels that put a reply on the opt-out queue
QUEUE_LABELS = (OPT_OUT, NEEDS_REVIEW)
