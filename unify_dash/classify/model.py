"""The learned part of the reply classifier: a linear model over character and word n-grams.

Features are computed here, for training (``scripts/train_reply_model.py``) and for inference alike, on
the text as :func:`unify_dash.classify.text.prepare` leaves it (folded, quotes / signatures / footers
stripped). Character n-grams (2 to 5, inside word boundaries) carry the model across spellings, typos
and languages without spaces (Japanese, Chinese); word unigrams and bigrams carry phrases; the
:mod:`.semantic` request cue (a verb of stopping / removing near an object of contact, from small
per-language lexicons) is one feature shared by every language.

The weights ship inside the package as ``data/reply_model.npz``: plain arrays (vocabulary, idf,
coefficients, intercepts) read with ``allow_pickle=False`` — no pickled code, nothing fetched at run
time. Inference needs numpy only; scikit-learn is needed to train.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unify_dash.classify import semantic

MODEL_PATH = Path(__file__).resolve().parent / "data" / "reply_model.npz"
CHAR_NGRAMS = (2, 5)
_WORDS = re.compile(r"\w+(?:'\w+)?", re.UNICODE)
_SPACE = re.compile(r"\s+")


def features(s: str) -> dict[str, int]:
    """Counts of the n-gram features of a prepared text (``c:`` character, ``w:`` word, ``b:`` word bigram
    features) and the language-independent request cue of :mod:`.semantic` (``s:`` features)."""
    counts: dict[str, int] = {}
    text = _SPACE.sub(" ", s.replace("\n", " ")).strip()
    lo, hi = CHAR_NGRAMS
    for word in text.split(" "):
        if not word:
            continue
        padded = f" {word} "
        n_chars = len(padded)
        for n in range(lo, hi + 1):
            if n > n_chars:
                break
            for i in range(n_chars - n + 1):
                key = "c:" + padded[i: i + n]
                counts[key] = counts.get(key, 0) + 1
    words = _WORDS.findall(text)
    for i, w in enumerate(words):
        key = "w:" + w
        counts[key] = counts.get(key, 0) + 1
        if i:
            key = "b:" + words[i - 1] + " " + w
            counts[key] = counts.get(key, 0) + 1
    for key in semantic.features(s):
        counts[key] = 1
    return counts


@dataclass(frozen=True)
class Prediction:
    probabilities: dict[str, float]  # label -> probability (sums to 1)
    top_feature: str | None  # the feature that pushed the winning label most, e.g. "w:unsubscribe"

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


class Model:
    """A trained linear model: ``softmax(coef @ tfidf(features) + intercept)``."""

    def __init__(self, vocab: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[str]):
        self.vocab = vocab
        self.index = {f: i for i, f in enumerate(vocab)}
        self.idf = idf.astype(np.float64)
        self.coef = coef.astype(np.float64)
        self.intercept = intercept.astype(np.float64)
        self.classes = list(classes)

    def vector(self, s: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, l2-normalised sublinear tf-idf values) of a prepared text."""
        idx, vals = [], []
        for f, c in features(s).items():
            i = self.index.get(f)
            if i is not None:
                idx.append(i)
                vals.append((1.0 + math.log(c)) * self.idf[i])
        ix = np.asarray(idx, dtype=np.int64)
        v = np.asarray(vals, dtype=np.float64)
        norm = float(np.sqrt((v * v).sum())) if len(v) else 0.0
        return ix, (v / norm if norm else v)

    def predict(self, s: str) -> Prediction:
        ix, v = self.vector(s)
        scores = self.coef[:, ix] @ v + self.intercept if len(ix) else self.intercept.copy()
        e = np.exp(scores - scores.max())
        p = e / e.sum()
        best = int(p.argmax())
        top = None
        if len(ix):  # the evidence: the strongest feature that is text (not the semantic cue's s: features)
            contrib = self.coef[best, ix] * v
            for j in np.argsort(-contrib):
                top = self.vocab[int(ix[int(j)])]
                if not top.startswith("s:"):
                    break
        return Prediction({c: float(x) for c, x in zip(self.classes, p, strict=True)}, top)

    # --- storage: plain arrays, no pickle ---------------------------------------------------------

    def save(self, path: str | Path, **meta: str) -> None:
        vocab = np.frombuffer("\n".join(self.vocab).encode("utf-8"), dtype=np.uint8)
        classes = np.frombuffer("\n".join(self.classes).encode("utf-8"), dtype=np.uint8)
        info = np.frombuffer("\n".join(f"{k}={v}" for k, v in meta.items()).encode("utf-8"), dtype=np.uint8)
        np.savez_compressed(path, vocab=vocab, classes=classes, idf=self.idf.astype(np.float32),
                            coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32), info=info)

    @classmethod
    def load(cls, path: str | Path = MODEL_PATH) -> Model:
        with np.load(path, allow_pickle=False) as z:
            vocab = bytes(z["vocab"]).decode("utf-8").split("\n")
            classes = bytes(z["classes"]).decode("utf-8").split("\n")
            return cls(vocab, z["idf"], z["coef"], z["intercept"], classes)

    @staticmethod
    def info(path: str | Path = MODEL_PATH) -> dict[str, str]:
        with np.load(path, allow_pickle=False) as z:
            lines = bytes(z["info"]).decode("utf-8").split("\n")
        return dict(line.split("=", 1) for line in lines if "=" in line)


def build(docs: list[dict[str, int]], min_df: int):
    """(vocabulary, idf, l2-normalised sublinear tf-idf CSR matrix) of feature counts (scipy needed)."""
    from scipy import sparse

    df: dict[str, int] = {}
    for d in docs:
        for f in d:
            df[f] = df.get(f, 0) + 1
    vocab = sorted(f for f, n in df.items() if n >= min_df)
    index = {f: i for i, f in enumerate(vocab)}
    n_docs = len(docs)
    idf = np.array([math.log((1 + n_docs) / (1 + df[f])) + 1.0 for f in vocab])
    data, ind, ptr = [], [], [0]
    for d in docs:
        pairs = [(index[f], (1.0 + math.log(c)) * idf[index[f]]) for f, c in d.items() if f in index]
        norm = math.sqrt(sum(v * v for _, v in pairs)) or 1.0
        for i, v in pairs:
            ind.append(i)
            data.append(v / norm)
        ptr.append(len(ind))
    return vocab, idf, sparse.csr_matrix((data, ind, ptr), shape=(n_docs, len(vocab)))


def fit(docs: list[dict[str, int]], labels: list[str], C: float = 8.0, min_df: int = 2,
        class_weight: str | None = "balanced") -> Model:
    """Fit the model on feature counts (:func:`features` of prepared texts) and their labels.
    Needs scikit-learn (``pip install -e '.[train]'``)."""
    from sklearn.linear_model import LogisticRegression

    from unify_dash.classify.labels import LABELS

    vocab, idf, X = build(docs, min_df)
    y = np.array([LABELS.index(label) for label in labels])
    clf = LogisticRegression(C=C, max_iter=5000, class_weight=class_weight)
    clf.fit(X, y)
    return Model(vocab, idf, clf.coef_, clf.intercept_, [LABELS[i] for i in clf.classes_])


@functools.lru_cache(maxsize=1)
def _shipped() -> Model | None:
    if not MODEL_PATH.exists():
        return None
    return Model.load(MODEL_PATH)


_override: list[Model] = []


@contextlib.contextmanager
def using(m: Model):
    """Classify with ``m`` instead of the shipped model inside the block (cross-author evaluation)."""
    _override.append(m)
    try:
        yield m
    finally:
        _override.pop()


def default_model() -> Model | None:
    """The model the classifier reads: the shipped one, loaded once (None when the package has none:
    then only rules decide), or the one of an enclosing :func:`using` block."""
    if _override:
        return _override[-1]
    return _shipped()
