"""``unify-dash classify [--jsonl]``: classify replies read from standard input.

One reply per input line; with ``--jsonl`` each line is a JSON object with ``text`` and optional
``subject`` and ``headers`` (an object). One JSON object per line out, in the same order:
``{"label", "confidence", "language", "evidence", "rule", "source"}``. Every input line is checked
before anything is printed; bad lines are reported together (line number, what is wrong) and the
exit code is 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

from unify_dash.errors import ValidationError


def parse_lines(lines: Iterable[str], jsonl: bool) -> list[tuple[str, str | None, dict | None]]:
    """(text, subject, headers) per input line; every problem reported at once as a ValidationError."""
    items, problems = [], []
    for n, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not jsonl:
            items.append((line, None, None))
            continue
        if not line.strip():
            problems.append(f"stdin line {n}: empty line (expected a JSON object with \"text\")")
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            problems.append(f"stdin line {n}: not JSON ({err.msg}); write one object per line, e.g. "
                            '{"text": "Please remove me"}')
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            problems.append(f"stdin line {n}: expected an object with a string \"text\"")
            continue
        subject, headers = obj.get("subject"), obj.get("headers")
        if subject is not None and not isinstance(subject, str):
            problems.append(f"stdin line {n}, field subject: expected a string")
            continue
        if headers is not None and not isinstance(headers, dict):
            problems.append(f"stdin line {n}, field headers: expected an object of header names to values")
            continue
        items.append((obj["text"], subject, headers))
    if problems:
        raise ValidationError(f"{len(problems)} bad input line(s), nothing classified:\n  - " + "\n  - ".join(problems))
    return items


def cli_classify(args, stdin=None, stdout=None) -> int:
    from unify_dash.classify import replies

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    items = parse_lines(stdin, args.jsonl)
    for text, subject, headers in items:
        c = replies.classify(text, headers=headers, subject=subject)
        out = {"label": c.label, "confidence": c.confidence, "language": c.language, "evidence": c.evidence,
               "rule": c.rule, "source": c.source}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 0
