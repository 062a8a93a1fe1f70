"""Measure the reply classifier on a labelled split.

Prints per-class precision, recall, F1 and counts, the opt-out figures (recall to the queue, i.e.
opt_out or needs_review; strict recall; precision of the opt_out label), the other-class accuracy and
the needs_review share, the confusion matrix (rows = true label, columns = predicted, with
needs_review), per-language figures, and every missed opt-out and false opt-out. Exit status 0.

    python scripts/eval_replies.py                 # the dev split (what rules and thresholds are chosen on)
    python scripts/eval_replies.py --split train   # the split the model is fitted on
    python scripts/eval_replies.py --split eval    # the first classifier's set (tests/data/replies_eval.csv)
    python scripts/eval_replies.py --split test    # the independent test split: run it once, at the end
    python scripts/eval_replies.py --csv FILE      # any labelled CSV (columns text, label; lang, subject, headers)
    python scripts/eval_replies.py --errors        # also list every other misclassification
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unify_dash.classify import corpus, replies  # noqa: E402
from unify_dash.classify.labels import LABELS, NEEDS_REVIEW, OPT_OUT, OUTPUTS  # noqa: E402

SHORT = {"opt_out": "opt_out", "out_of_office": "ooo", "positive": "pos", "negative": "neg", "other": "other",
         "needs_review": "review"}


def _one_line(text: str, width: int = 110) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def report(name: str, rows: list[dict], show_all_errors: bool) -> corpus.EvalReport:
    r = replies.evaluate(rows)
    print(f"\n=== {name}: {r.n} replies, {len({x['lang'] for x in rows})} languages, exact accuracy {r.accuracy:.3f} ===")
    print(f"opt-out recall (to the queue: opt_out or needs_review) {r.opt_out_recall:.3f}   "
          f"strict (opt_out only) {r.opt_out_recall_strict:.3f}   precision (opt_out) {r.opt_out_precision:.3f}")
    print(f"other-class accuracy {r.other_accuracy:.3f}   needs_review share {r.review_share:.3f} "
          f"({sum(r.confusion[t][NEEDS_REVIEW] for t in LABELS)} of {r.n})")
    print(f"\n{'label':<15}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}{'predicted':>11}")
    for label in LABELS:
        m = r.per_class[label]
        print(f"{label:<15}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{m['support']:>9d}"
              f"{m['predicted']:>11d}")
    print("\nconfusion (rows = true, columns = predicted)")
    print(f"{'':<15}" + "".join(f"{SHORT[p]:>9}" for p in OUTPUTS))
    for t in LABELS:
        print(f"{t:<15}" + "".join(f"{r.confusion[t][p]:>9d}" for p in OUTPUTS))
    print(f"\nper language\n{'lang':<6}{'n':>5}{'opt-outs':>9}{'recall':>8}{'strict':>8}{'precision':>10}"
          f"{'other acc':>10}{'review':>8}")
    for lang, f in r.per_language.items():
        print(f"{lang:<6}{f['n']:>5d}{f['opt_outs']:>9d}{f['recall']:>8.3f}{f['recall_strict']:>8.3f}"
              f"{f['precision']:>10.3f}{f['other_accuracy']:>10.3f}{f['review_share']:>8.3f}")
    missed = [e for e in r.errors if e["label"] == OPT_OUT and e["predicted"] != NEEDS_REVIEW]
    false = [e for e in r.errors if e["predicted"] == OPT_OUT]
    print(f"\nmissed opt-outs ({len(missed)}):")
    for e in missed:
        print(f"  {e['id']} [{e['lang']}] -> {e['predicted']} ({e['rule']}): {_one_line(e['text'])}")
    print(f"wrongly labelled opt-out ({len(false)}):")
    for e in false:
        print(f"  {e['id']} [{e['lang']}] true {e['label']}, evidence {e['evidence']!r}: {_one_line(e['text'])}")
    if show_all_errors:
        rest = [e for e in r.errors if e not in missed and e not in false]
        print(f"other misclassifications and reviews ({len(rest)}):")
        for e in rest:
            print(f"  {e['id']} [{e['lang']}] true {e['label']} -> {e['predicted']} ({e['rule']}, "
                  f"{e['confidence']}, {e['evidence']!r}): {_one_line(e['text'])}")
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(corpus.SPLITS), default="dev", help="labelled split (default dev)")
    parser.add_argument("--csv", help="a labelled CSV instead of a split")
    parser.add_argument("--errors", action="store_true", help="list every misclassification")
    args = parser.parse_args(argv)
    path = Path(args.csv) if args.csv else corpus.SPLITS[args.split]
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 1
    report(args.csv or args.split, corpus.load(path), args.errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
