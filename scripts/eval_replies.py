"""Measure the reply classifier on the labelled set (tests/data/replies_eval.csv).

Prints, for the dev split, the holdout split and both together: per-class precision, recall, F1 and
counts, overall accuracy, the confusion matrix (rows = true label, columns = predicted), and every
misclassified opt-out (missed opt-outs and replies wrongly labelled opt-out). Exit status 0.

    python scripts/eval_replies.py                # dev, holdout, all
    python scripts/eval_replies.py --split dev    # one split only (what the rules were tuned on)
    python scripts/eval_replies.py --errors       # also list every other misclassification
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unify_dash.classify import replies  # noqa: E402

SHORT = {"opt_out": "opt_out", "out_of_office": "ooo", "positive": "pos", "negative": "neg", "other": "other"}


def _one_line(text: str, width: int = 110) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def report(name: str, rows: list[dict], show_all_errors: bool) -> None:
    r = replies.evaluate(rows)
    print(f"\n=== {name}: {r.n} replies, accuracy {r.accuracy:.3f} ===")
    print(f"{'label':<15}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}{'predicted':>11}")
    for label in replies.LABELS:
        m = r.per_class[label]
        print(f"{label:<15}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{m['support']:>9d}"
              f"{m['predicted']:>11d}")
    print("\nconfusion (rows = true, columns = predicted)")
    print(f"{'':<15}" + "".join(f"{SHORT[p]:>9}" for p in replies.LABELS))
    for t in replies.LABELS:
        print(f"{t:<15}" + "".join(f"{r.confusion[t][p]:>9d}" for p in replies.LABELS))
    missed = [e for e in r.errors if e["label"] == replies.OPT_OUT]
    false = [e for e in r.errors if e["predicted"] == replies.OPT_OUT]
    print(f"\nmissed opt-outs ({len(missed)}):")
    for e in missed:
        print(f"  {e['id']} [{e['lang']}] -> {e['predicted']} ({e['rule']}): {_one_line(e['text'])}")
    print(f"wrongly labelled opt-out ({len(false)}):")
    for e in false:
        print(f"  {e['id']} [{e['lang']}] true {e['label']}, evidence {e['evidence']!r}: {_one_line(e['text'])}")
    if show_all_errors:
        rest = [e for e in r.errors if e not in missed and e not in false]
        print(f"other misclassifications ({len(rest)}):")
        for e in rest:
            print(f"  {e['id']} [{e['lang']}] true {e['label']} -> {e['predicted']} ({e['rule']}, "
                  f"{e['evidence']!r}): {_one_line(e['text'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=str(replies.DEFAULT_EVAL_SET), help="labelled set (CSV)")
    parser.add_argument("--split", choices=["dev", "holdout", "all"], help="only this split")
    parser.add_argument("--errors", action="store_true", help="list every misclassification")
    args = parser.parse_args(argv)
    rows = replies.load_eval_set(args.csv)
    splits = [args.split] if args.split else ["dev", "holdout", "all"]
    for split in splits:
        subset = rows if split == "all" else [r for r in rows if r["split"] == split]
        report(split, subset, args.errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
