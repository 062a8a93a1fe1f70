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
    python scripts/eval_replies.py --cross-author  # leave-one-author-out over train + dev (trains a model per
                                                   # author, needs scikit-learn; a few minutes)
    python scripts/eval_replies.py --cross-author --authors test --save /tmp/test.jsonl   # one author at a time
    python scripts/eval_replies.py --summarise /tmp/*.jsonl --calibrate   # ... and their figures together

``--cross-author`` predicts a fresh author: for each author of the corpus (the ``author`` column:
corpus, eval, test, holdout2, holdout3, holdout4, r3, r4, public) it fits the model on every other
author's rows (train and dev split) and measures the whole classifier (rules + that model) on the held-out author's rows; it prints
the figures per author, their minimum and mean, and per language over the pooled held-out predictions.
The rules were written on the corpus author's replies and, in round 3, on the errors of all authors, so
the figure is optimistic by that much for the rules (the model part is clean).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unify_dash.classify import corpus, replies  # noqa: E402
from unify_dash.classify.labels import LABELS, NEEDS_REVIEW, OPT_OUT, OUTPUTS  # noqa: E402

SHORT = {"opt_out": "opt_out", "out_of_office": "ooo", "positive": "pos", "not_now": "later", "other": "other",
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


def _header(title: str) -> None:
    print(f"\n{title}\n{'':<10}{'n':>6}{'opt-outs':>9}{'recall':>8}{'strict':>8}{'precision':>10}"
          f"{'other acc':>10}{'review':>8}")


def _line(name: str, f: dict) -> None:
    print(f"{name:<10}{f['n']:>6d}{f['opt_outs']:>9d}{f['recall']:>8.3f}{f['recall_strict']:>8.3f}"
          f"{f['precision']:>10.3f}{f['other_accuracy']:>10.3f}{f['review_share']:>8.3f}")


_GATED = ("model.", "other.", "positive.", "not_now.", "out_of_office.")  # other.bounce: decided before the gate


def _record(author: str, r: dict, m) -> dict:
    """One held-out row classified with model ``m``: the label, and what the review gate reads (the label
    with the gate closed, the model's opt-out probability, a declined unsubscribe, whether the row reaches
    the gate at all: no certain rule, auto-reply, bounce or language routing decided it)."""
    from unify_dash.classify import rules, semantic, text

    c = replies.classify(r["text"], r["headers"], r["subject"])
    saved = replies.REVIEW_AT, replies.REVIEW_AT_BY_LANGUAGE, replies.REQUEST_REVIEW_AT
    replies.REVIEW_AT, replies.REVIEW_AT_BY_LANGUAGE, replies.REQUEST_REVIEW_AT = 2.0, {}, 2.0
    try:
        closed = replies.classify(r["text"], r["headers"], r["subject"])
    finally:
        replies.REVIEW_AT, replies.REVIEW_AT_BY_LANGUAGE, replies.REQUEST_REVIEW_AT = saved
    f = text.prepare(r["text"])
    body = f.s.strip()
    probs = m.predict(body).probabilities if body else {}
    return {"author": author, "id": r["id"], "lang": r["lang"], "label": r["label"], "predicted": c.label,
            "rule": c.rule, "closed": closed.label, "p_opt": probs.get(OPT_OUT, 0.0),
            "probs": {k: round(v, 4) for k, v in probs.items()}, "cues": replies._cues(f)[0] if body else {},
            "declined": rules.declined_unsubscribe(f),
            "request": replies._asks_to_stop(semantic.cue(body)) if body else False,
            "gated": closed.rule.startswith(_GATED) and closed.rule not in ("out_of_office.header", "out_of_office.subject", "other.bounce"),
            "text": _one_line(r["text"])}


def cross_author(rows: list[dict], C: float, min_df: int, only: list[str] | None = None) -> list[dict]:
    """Leave-one-author-out (see the module docstring): for each author (or each of ``only``) a model fitted
    on every other author's rows classifies the author's rows. Returns one record per held-out row."""
    from unify_dash.classify import model, text

    docs = [model.features(text.prepare(r["text"]).s) for r in rows]
    authors = sorted({r["author"] or "?" for r in rows})
    if only:
        unknown = set(only) - set(authors)
        if unknown:
            raise SystemExit(f"error: no author {', '.join(sorted(unknown))} in the corpus ({', '.join(authors)})")
        authors = [a for a in authors if a in only]
    records: list[dict] = []
    for author in authors:
        rest = [i for i, r in enumerate(rows) if (r["author"] or "?") != author]
        m = model.fit([docs[i] for i in rest], [rows[i]["label"] for i in rest], C=C, min_df=min_df)
        held = [r for r in rows if (r["author"] or "?") == author]
        with model.using(m):
            records += [_record(author, r, m) for r in held]
        print(f"  held out {author}: {len(held)} replies, model fitted on {len(rest)}", file=sys.stderr)
    return records


def _figs(records: list[dict], key: str = "predicted") -> dict:
    f = corpus._figures([(x["label"], x[key]) for x in records])
    return f


def _gate(x: dict, t: float, request_at: float | None = None) -> str:
    """The label of a saved record under review threshold ``t`` (and ``request_at`` for a reply with the
    semantic request cue; default ``replies.REQUEST_REVIEW_AT``; records saved before round 4 have none)."""
    request_at = replies.REQUEST_REVIEW_AT if request_at is None else request_at
    if x.get("request") and request_at <= x["p_opt"] < t:
        t = request_at
    if x["gated"] and x["p_opt"] >= t and not (x["declined"] and x["p_opt"] < replies.REVIEW_DECLINED_AT):
        return NEEDS_REVIEW
    return _closed(x)


def _closed(x: dict) -> str:
    """The label of a saved record with the review gate closed; a record that reached the rule cues and the
    model's four-class decision (saved since round 5 with ``probs`` and ``cues``) is decided again with
    today's thresholds (:func:`replies.settle_label`)."""
    if x["gated"] and "probs" in x:
        return replies.settle_label(x["cues"], x["probs"])[0]
    return x["closed"]


GRID = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def calibrate(records: list[dict], target: float = 0.98, request_at: float | None = None,
              quiet: bool = False) -> dict[str, float]:
    """Per language, the largest review threshold of GRID whose cross-author recall is at least
    min(target, the best recall over GRID), with the request threshold ``request_at``. Prints recall /
    other-class accuracy / review share per threshold (unless ``quiet``); returns language -> threshold."""
    chosen: dict[str, float] = {}
    if not quiet:
        print("\n=== review threshold per language on the cross-author predictions (recall/other acc/review) ===")
    for lang in sorted({x["lang"] for x in records}):
        items = [x for x in records if x["lang"] == lang]
        figs = {t: corpus._figures([(x["label"], _gate(x, t, request_at)) for x in items]) for t in GRID}
        goal = min(target, max(f["recall"] for f in figs.values()))
        chosen[lang] = max(t for t in GRID if figs[t]["recall"] >= goal - 1e-9)
        if not quiet:
            print(f"{lang:<5}-> {chosen[lang]:.2f}  " + "  ".join(
                f"{t:.2f}: {f['recall']:.3f}/{f['other_accuracy']:.3f}/{f['review_share']:.3f}"
                for t, f in figs.items() if t in (0.3, 0.4, 0.5, 0.6, 0.7)))
    if not quiet:
        print("REVIEW_AT_BY_LANGUAGE = " + repr(chosen))
    return chosen


REQUEST_GRID = (2.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)  # 2.0: the request cue does not lower the threshold


def calibrate_request(records: list[dict], target: float = 0.98) -> None:
    """For each request threshold of REQUEST_GRID, the per-language thresholds :func:`calibrate` chooses
    with it and the pooled and worst-author figures they give (recall / other-class accuracy / review)."""
    print("\n=== request threshold (REQUEST_REVIEW_AT), per-language thresholds re-chosen with each ===")
    authors = sorted({x["author"] for x in records})
    for r in REQUEST_GRID:
        chosen = calibrate(records, target, r, quiet=True)
        gated = [{**x, "predicted": _gate(x, chosen.get(x["lang"], replies.REVIEW_AT), r)} if x["gated"] else x
                 for x in records]
        f = _figs(gated)
        per = [_figs([x for x in gated if x["author"] == a]) for a in authors]
        print(f"{'off' if r > 1 else r:>5}: pooled {f['recall']:.3f} / {f['precision']:.3f} / {f['other_accuracy']:.3f} / "
              f"{f['review_share']:.3f}   worst author {min(p['recall'] for p in per):.3f} / "
              f"{min(p['precision'] for p in per):.3f} / {min(p['other_accuracy'] for p in per):.3f} / "
              f"{max(p['review_share'] for p in per):.3f}")


def regate(records: list[dict]) -> list[dict]:
    """The records as the review gate decides them with today's thresholds (``replies.REVIEW_AT_BY_LANGUAGE``
    by the reply's corpus language, else ``REVIEW_AT``): saved predictions need no new model fit."""
    return [{**x, "predicted": _gate(x, replies.review_threshold(x["lang"]))} if x["gated"] else x for x in records]


def _per_class(records: list[dict], authors: list[str]) -> None:
    """The pooled confusion matrix of the held-out predictions and each class's recall (its own label; for
    opt_out: opt_out or needs_review) over the authors: min (the worst author with that class) and mean."""
    print(f"\nconfusion, pooled over the held-out authors (rows = true, columns = predicted)\n{'':<15}"
          + "".join(f"{SHORT[p]:>9}" for p in OUTPUTS) + f"{'recall':>9}{'min':>7}{'mean':>7}")
    for t in LABELS:
        row = [x["predicted"] for x in records if x["label"] == t]
        ok = (OPT_OUT, NEEDS_REVIEW) if t == OPT_OUT else (t,)
        per = [sum(p in ok for p in ps) / len(ps) for a in authors
               if (ps := [x["predicted"] for x in records if x["author"] == a and x["label"] == t])]
        print(f"{t:<15}" + "".join(f"{row.count(p):>9d}" for p in OUTPUTS)
              + f"{sum(p in ok for p in row) / max(1, len(row)):>9.3f}{min(per, default=1):>7.3f}"
              f"{sum(per) / max(1, len(per)):>7.3f}")


def summarise(records: list[dict], C: float, min_df: int, show_errors: bool) -> dict[str, dict]:
    """Print the figures of every held-out author, their minimum and mean, and per language pooled over the
    held-out authors; returns author -> figures."""
    authors = sorted({x["author"] for x in records})
    figures = {a: _figs([x for x in records if x["author"] == a]) for a in authors}
    _header(f"=== leave-one-author-out (C={C}, min_df={min_df}): each author measured by a model fitted on the others ===")
    for a in authors:
        _line(a, figures[a])
    keys = ("recall", "recall_strict", "precision", "other_accuracy")
    n = {"n": len(records), "opt_outs": sum(x["label"] == OPT_OUT for x in records)}
    _line("min", {**n, **{k: min(figures[a][k] for a in authors) for k in keys},
                  "review_share": max(figures[a]["review_share"] for a in authors)})
    _line("mean", {**n, **{k: sum(figures[a][k] for a in authors) / len(authors) for k in (*keys, "review_share")}})
    print("(min: the worst author on each figure, for the review share the largest)")
    _header("per language, pooled over the held-out authors")
    for lang in sorted({x["lang"] for x in records}):
        _line(lang, _figs([x for x in records if x["lang"] == lang]))
    _line("all", _figs(records))
    _per_class(records, authors)
    if show_errors:
        print("\nmissed and false opt-outs:")
        for x in records:
            if (x["label"] == OPT_OUT and x["predicted"] not in (OPT_OUT, NEEDS_REVIEW)) or \
                    (x["predicted"] == OPT_OUT and x["label"] != OPT_OUT):
                print(f"  {x['id']} [{x['lang']}] true {x['label']} -> {x['predicted']} ({x['rule']}): {x['text']}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(corpus.SPLITS), default="dev", help="labelled split (default dev)")
    parser.add_argument("--csv", help="a labelled CSV instead of a split")
    parser.add_argument("--errors", action="store_true", help="list every misclassification")
    parser.add_argument("--cross-author", action="store_true",
                        help="leave-one-author-out over the train and dev splits (fits one model per author)")
    parser.add_argument("--calibrate", action="store_true",
                        help="--cross-author: also choose a review threshold per language on the held-out predictions")
    parser.add_argument("--save", help="--cross-author: write the held-out predictions to this JSON-lines file")
    parser.add_argument("--regate", action="store_true",
                        help="--summarise: apply today's review thresholds to the saved predictions first")
    parser.add_argument("--summarise", nargs="+", metavar="FILE",
                        help="print the cross-author figures of saved predictions (one file per author run)")
    parser.add_argument("--authors", help="--cross-author: hold out only these authors (comma-separated)")
    parser.add_argument("--C", type=float, default=8.0, help="--cross-author: the model's C (default 8)")
    parser.add_argument("--min-df", type=int, default=2, help="--cross-author: minimum document frequency")
    args = parser.parse_args(argv)
    if args.summarise:
        records = []
        for name in args.summarise:
            with open(name, encoding="utf-8") as fh:
                records += [json.loads(line) for line in fh]
    elif args.cross_author:
        records = cross_author(corpus.load_split("train") + corpus.load_split("dev"), args.C, args.min_df,
                               args.authors.split(",") if args.authors else None)
        if args.save:
            with open(args.save, "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(x, ensure_ascii=False) + "\n" for x in records)
    if args.summarise or args.cross_author:
        if args.regate:
            records = regate(records)
        summarise(records, args.C, args.min_df, args.errors)
        if args.calibrate:
            calibrate(records)
            calibrate_request(records)
        return 0
    path = Path(args.csv) if args.csv else corpus.SPLITS[args.split]
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 1
    report(args.csv or args.split, corpus.load(path), args.errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
