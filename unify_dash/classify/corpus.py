"""The labelled reply corpora and their evaluation.

Splits (tests/data/replies/): ``train.csv`` (the model is fitted on it) and ``dev.csv`` (rules, thresholds
and hyper-parameters are checked on it), written by ``scripts/build_reply_corpus.py`` from every author's
replies (column ``author``). ``test.csv`` and ``holdout2.csv`` were held-out sets, measured once each; since
round 3 they are training material (their rows are in train / dev). Fresh held-out sets are written
independently and read only by ``scripts/eval_replies.py --csv`` and tests/test_classify.py. The first
classifier's set, tests/data/replies_eval.csv, is the split ``eval``; its rows are also in train / dev.

A corpus is a CSV file with at least ``text`` and ``label`` columns; ``id``, ``lang`` (or
``language``), ``subject``, ``headers`` (a JSON object), ``tags``, ``group``, ``author`` and ``source`` are
optional.

Figures (:func:`evaluate`): a reply labelled ``needs_review`` goes to the opt-out queue, where a person
reads it; so

* **opt-out recall** = true opt-outs that reach the queue (labelled ``opt_out`` or ``needs_review``) /
  true opt-outs; ``strict`` recall counts only ``opt_out``;
* **opt-out precision** = true opt-outs among the replies labelled ``opt_out`` (those are opted out
  with one click in bulk);
* **other-class accuracy** = replies of the four other classes given their own label (``needs_review``
  counts as wrong); **review share** = replies labelled ``needs_review`` / all replies.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unify_dash.classify.labels import FORMER_NEGATIVE, LABELS, NEEDS_REVIEW, NOT_NOW, OPT_OUT, OTHER, OUTPUTS

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
SPLITS = {
    "train": DATA / "replies" / "train.csv",
    "dev": DATA / "replies" / "dev.csv",
    "test": DATA / "replies" / "test.csv",
    "eval": DATA / "replies_eval.csv",
}
_ALIASES = {"optout": OPT_OUT, "opt-out": OPT_OUT, "unsubscribe": OPT_OUT, "ooo": "out_of_office",
            "out-of-office": "out_of_office", "auto_reply": "out_of_office", "not-now": NOT_NOW,
            "later": NOT_NOW, "decline": OTHER, "interested": "positive"}


class CorpusError(ValueError):
    pass


def load(path: str | Path) -> list[dict]:
    """Rows with id, text, headers (dict or None), subject, label, lang, tags, group. Every problem of
    the file is reported at once (file, row, column)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"text", "label"} - set(reader.fieldnames or ())
        if missing:
            raise CorpusError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        raw = list(reader)
    rows, problems = [], []
    for n, r in enumerate(raw, start=2):
        label = (r.get("label") or "").strip().lower()
        label = _ALIASES.get(label, label)
        if label == FORMER_NEGATIVE:
            problems.append(f"{path}: row {n}, column label: 'negative' was split in round 6: write not_now for "
                            "'later' (next quarter, after the budget) or other for a plain decline")
        elif label not in LABELS:
            problems.append(f"{path}: row {n}, column label: {r.get('label')!r} is not one of {', '.join(LABELS)}")
        headers = None
        if (r.get("headers") or "").strip():
            try:
                headers = json.loads(r["headers"])
            except ValueError as err:
                problems.append(f"{path}: row {n}, column headers: not JSON ({err})")
        rows.append({"id": r.get("id") or f"row{n}", "text": r.get("text") or "", "headers": headers,
                     "subject": r.get("subject") or None, "label": label,
                     "lang": (r.get("lang") or r.get("language") or "").strip().lower() or "?",
                     "tags": r.get("tags") or "", "group": r.get("group") or r.get("id") or f"row{n}",
                     "split": r.get("split") or "", "author": r.get("author") or "",
                     "source": r.get("source") or ""})
    if problems:
        raise CorpusError("\n".join(problems))
    return rows


def load_split(name: str) -> list[dict]:
    return load(SPLITS[name])


@dataclass
class EvalReport:
    n: int
    accuracy: float  # exact label, needs_review counting as wrong
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support, predicted
    confusion: dict[str, dict[str, int]]  # true (5 labels) -> predicted (6 outputs) -> count
    opt_out_recall: float  # opt_out or needs_review
    opt_out_recall_strict: float  # opt_out only
    opt_out_precision: float
    other_accuracy: float
    review_share: float
    per_language: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)

    def metric(self, label: str, name: str) -> float:
        return self.per_class[label][name]


def _figures(pairs: Sequence[tuple[str, str]]) -> dict[str, float]:
    opt = [p for t, p in pairs if t == OPT_OUT]
    rest = [(t, p) for t, p in pairs if t != OPT_OUT]
    flagged = [t for t, p in pairs if p == OPT_OUT]
    return {
        "n": len(pairs), "opt_outs": len(opt),
        "recall": sum(p in (OPT_OUT, NEEDS_REVIEW) for p in opt) / len(opt) if opt else 1.0,
        "recall_strict": sum(p == OPT_OUT for p in opt) / len(opt) if opt else 1.0,
        "precision": sum(t == OPT_OUT for t in flagged) / len(flagged) if flagged else 1.0,
        "other_accuracy": sum(t == p for t, p in rest) / len(rest) if rest else 1.0,
        "accuracy": sum(t == p for t, p in pairs) / len(pairs) if pairs else 1.0,
        "review_share": sum(p == NEEDS_REVIEW for _, p in pairs) / len(pairs) if pairs else 0.0,
    }


def evaluate(rows: Sequence[Mapping], classify: Callable) -> EvalReport:
    """Classify every row with ``classify(text, headers, subject)`` and compare with its label."""
    confusion = {t: {p: 0 for p in OUTPUTS} for t in LABELS}
    errors: list[dict] = []
    pairs: list[tuple[str, str]] = []
    by_lang: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        c = classify(row["text"], row.get("headers"), row.get("subject"))
        confusion[row["label"]][c.label] += 1
        pairs.append((row["label"], c.label))
        by_lang.setdefault(row.get("lang") or "?", []).append((row["label"], c.label))
        if c.label != row["label"]:
            errors.append({**row, "predicted": c.label, "evidence": c.evidence, "rule": c.rule,
                           "confidence": c.confidence, "language": getattr(c, "language", None)})
    per_class = {}
    for label in LABELS:
        tp = confusion[label][label]
        support = sum(confusion[label].values())
        predicted = sum(confusion[t][label] for t in LABELS)
        precision = tp / predicted if predicted else 1.0
        recall = tp / support if support else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support,
                            "predicted": predicted}
    f = _figures(pairs)
    return EvalReport(len(rows), f["accuracy"], per_class, confusion, f["recall"], f["recall_strict"],
                      f["precision"], f["other_accuracy"], f["review_share"],
                      {lang: _figures(p) for lang, p in sorted(by_lang.items())}, errors)
