"""Train the reply model on tests/data/replies/train.csv and write unify_dash/classify/data/reply_model.npz.

Features: :func:`unify_dash.classify.model.features` of the prepared text (folded, quotes, signatures
and footers stripped), kept when they occur in at least ``--min-df`` training replies; sublinear tf-idf,
l2-normalised; multinomial logistic regression (scikit-learn, ``pip install -e '.[train]'``). Only the
train split is read: the dev split is for choosing the hyper-parameters and the review thresholds,
the test split (tests/data/replies/test.csv) is read by nothing but ``scripts/eval_replies.py --split test``.

    python scripts/train_reply_model.py                 # C=8, min-df=2
    python scripts/train_reply_model.py --C 4 --out /tmp/m.npz
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unify_dash.classify import corpus, model, text  # noqa: E402
from unify_dash.classify.labels import LABELS  # noqa: E402


def build(rows: list[dict], min_df: int):
    docs = [model.features(text.prepare(r["text"]).s) for r in rows]
    df: dict[str, int] = {}
    for d in docs:
        for f in d:
            df[f] = df.get(f, 0) + 1
    vocab = sorted(f for f, n in df.items() if n >= min_df)
    index = {f: i for i, f in enumerate(vocab)}
    n_docs = len(docs)
    idf = np.array([math.log((1 + n_docs) / (1 + df[f])) + 1.0 for f in vocab])
    from scipy import sparse

    data, ind, ptr = [], [], [0]
    for d in docs:
        pairs = [(index[f], (1.0 + math.log(c)) * idf[index[f]]) for f, c in d.items() if f in index]
        norm = math.sqrt(sum(v * v for _, v in pairs)) or 1.0
        for i, v in pairs:
            ind.append(i)
            data.append(v / norm)
        ptr.append(len(ind))
    X = sparse.csr_matrix((data, ind, ptr), shape=(n_docs, len(vocab)))
    return vocab, idf, X


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(corpus.SPLITS["train"]))
    parser.add_argument("--out", default=str(model.MODEL_PATH))
    parser.add_argument("--C", type=float, default=8.0, help="inverse regularisation strength (default 8)")
    parser.add_argument("--min-df", type=int, default=2, help="minimum document frequency of a feature (default 2)")
    args = parser.parse_args(argv)
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        print("error: training needs scikit-learn: pip install -e '.[train]'", file=sys.stderr)
        return 1
    rows = corpus.load(args.train)
    vocab, idf, X = build(rows, args.min_df)
    y = np.array([LABELS.index(r["label"]) for r in rows])
    clf = LogisticRegression(C=args.C, max_iter=5000, class_weight="balanced")
    clf.fit(X, y)
    classes = [LABELS[i] for i in clf.classes_]
    m = model.Model(vocab, idf, clf.coef_, clf.intercept_, classes)
    digest = hashlib.sha256(Path(args.train).read_bytes()).hexdigest()[:16]
    m.save(args.out, C=str(args.C), min_df=str(args.min_df), train_rows=str(len(rows)), train_sha256=digest,
           features=str(len(vocab)))
    size = Path(args.out).stat().st_size
    print(f"trained on {len(rows)} replies, {len(vocab)} features, C={args.C}: {args.out} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
