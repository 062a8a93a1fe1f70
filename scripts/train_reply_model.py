"""Train the reply model on tests/data/replies/train.csv and write unify_dash/classify/data/reply_model.npz.

Features: :func:`unify_dash.classify.model.features` of the prepared text (folded, quotes, signatures
and footers stripped), kept when they occur in at least ``--min-df`` training replies; sublinear tf-idf,
l2-normalised; multinomial logistic regression (scikit-learn, ``pip install -e '.[train]'``). Only the
train split is read (every author's replies, the former held-out sets test.csv and holdout2.csv among
them); hyper-parameters and review thresholds are chosen on the leave-one-author-out figures of
``scripts/eval_replies.py --cross-author``.

    python scripts/train_reply_model.py                 # C=8, min-df=2
    python scripts/train_reply_model.py --C 4 --out /tmp/m.npz
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unify_dash.classify import corpus, model, text  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(corpus.SPLITS["train"]))
    parser.add_argument("--out", default=str(model.MODEL_PATH))
    parser.add_argument("--C", type=float, default=8.0, help="inverse regularisation strength (default 8)")
    parser.add_argument("--min-df", type=int, default=2, help="minimum document frequency of a feature (default 2)")
    args = parser.parse_args(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("error: training needs scikit-learn: pip install -e '.[train]'", file=sys.stderr)
        return 1
    rows = corpus.load(args.train)
    m = model.fit([model.features(text.prepare(r["text"]).s) for r in rows], [r["label"] for r in rows],
                  C=args.C, min_df=args.min_df)
    digest = hashlib.sha256(Path(args.train).read_bytes()).hexdigest()[:16]
    m.save(args.out, C=str(args.C), min_df=str(args.min_df), train_rows=str(len(rows)), train_sha256=digest,
           features=str(len(m.vocab)))
    size = Path(args.out).stat().st_size
    print(f"trained on {len(rows)} replies, {len(m.vocab)} features, C={args.C}: {args.out} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
