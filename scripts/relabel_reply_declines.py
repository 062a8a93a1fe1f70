"""Round 6: split the former ``negative`` label of the corpus authors into ``not_now`` and ``other``.

Every independent author labels a plain decline ("not interested", "we have a vendor") ``other`` and keeps
``not_now`` for "later" (next quarter, after the budget, ping me in March). The authors who wrote
``negative`` for both (``N|`` lines of tests/data/replies/src/*.txt: the corpus author, r3, r4; the
``negative`` rows of tests/data/replies_eval.csv and tests/data/replies/test.csv) are relabelled by one
rule: a reply with a time to come back or a "for now" limit (the ``not_now`` lexicons of
``unify_dash.classify.rules``: ``_LATER``, ``_FOR_NOW``) is ``not_now``, any other former negative is
``other``. In src/*.txt, ``N|`` keeps meaning not_now and a decline becomes ``X|``.

    python scripts/relabel_reply_declines.py --dry-run   # counts and a sample of each side
    python scripts/relabel_reply_declines.py             # rewrites the files (run once; idempotent)
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unify_dash.classify import rules  # noqa: E402
from unify_dash.classify.labels import NOT_NOW, OTHER  # noqa: E402
from unify_dash.classify.text import prepare  # noqa: E402

SRC = ROOT / "tests" / "data" / "replies" / "src"
CSVS = {"eval": (ROOT / "tests" / "data" / "replies_eval.csv", "lang"),
        "test": (ROOT / "tests" / "data" / "replies" / "test.csv", "language")}


def later(text: str) -> bool:
    """True when a former negative reply names a time to come back or limits its no ("for now")."""
    return bool(rules._hits(prepare(text), rules._BY_LABEL[NOT_NOW]))


def _src_author(path: Path) -> str:
    part = path.stem.partition(".")[2]
    return part if part in ("r3", "r4") else "corpus"


def relabel_src(write: bool, moved: list) -> None:
    for path in sorted(SRC.glob("*.txt")):
        lines, changed = path.read_text(encoding="utf-8").split("\n"), False
        for i, line in enumerate(lines):
            code, sep, text = line.partition("|")
            if not sep or code.rstrip("!").strip() != "N":
                continue
            new = NOT_NOW if later(text.replace("\\n", "\n")) else OTHER
            moved.append((_src_author(path), path.stem.partition(".")[0], new, text.strip()))
            if new == OTHER:
                lines[i], changed = "X" + code.strip()[1:] + sep + text, True
        if write and changed:
            path.write_text("\n".join(lines), encoding="utf-8")


def relabel_csv(write: bool, moved: list) -> None:
    for author, (path, lang_col) in CSVS.items():
        with open(path, newline="", encoding="utf-8") as fh:
            raw = fh.read()
        reader = csv.DictReader(io.StringIO(raw))
        fields, rows = reader.fieldnames, list(reader)
        for r in rows:
            if r["label"] == "negative":
                r["label"] = NOT_NOW if later(r["text"]) else OTHER
                moved.append((author, r[lang_col], r["label"], r["text"]))
        if write:
            out = io.StringIO()
            w = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n" if "\r\n" in raw[:2000] else "\n")
            w.writeheader()
            w.writerows(rows)
            path.write_text(out.getvalue(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="print counts and a sample, write nothing")
    ap.add_argument("--sample", type=int, default=40)
    args = ap.parse_args(argv)
    moved: list[tuple[str, str, str, str]] = []
    relabel_src(not args.dry_run, moved)
    relabel_csv(not args.dry_run, moved)
    print("former negative rows by author and new label:")
    for (author, label), n in sorted(Counter((a, lab) for a, _, lab, _ in moved).items()):
        print(f"  {author:8} {label:8} {n}")
    print("by language (not_now / other):", ", ".join(
        f"{lang} {c[NOT_NOW]}/{c[OTHER]}" for lang, c in sorted(
            ((lang, Counter(lab for _, lg, lab, _ in moved if lg == lang)) for lang in {m[1] for m in moved}))))
    rng = random.Random(6)
    for label in (NOT_NOW, OTHER):
        pick = [m for m in moved if m[2] == label]
        print(f"\nsample -> {label} ({len(pick)}):")
        for author, lang, _, text in rng.sample(pick, min(args.sample, len(pick))):
            print(f"  [{author}/{lang}] {text.replace(chr(10), ' ')[:130]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
