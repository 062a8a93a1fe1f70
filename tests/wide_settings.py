"""Settings with many exclusions over every field and operator of the vocabulary (for the Spark parity
test and the golden Spark SQL): 130 exclusions span three mask words, and the exclusions at bits 63 and
127 match every contact, so the sign bit of a signed BIGINT word is set."""

from __future__ import annotations

import copy

from unify_dash.model import vocabulary as vocab

_SCALARS = {vocab.STRING: "a", vocab.EMAIL: "example", vocab.NUMBER: 1}
_LISTS = {vocab.STRING: ["united states", "germany", "technology"], vocab.EMAIL: ["gmail.com", "acme.com"],
          vocab.NUMBER: [0, 1, 50.5]}
_TEXT_OPS = {"starts_with": "s", "ends_with": ".com"}


def every_leaf() -> list[dict]:
    """One condition per (field, operator) pair of the vocabulary, with a value of the right type."""
    out = []
    for f in vocab.FIELDS.values():
        for op in vocab.operators_for(f.name):
            cond = {"field": f.name, "op": op.name}
            if op.value == "scalar":
                cond["value"] = _TEXT_OPS.get(op.name, _SCALARS[f.type]) if f.type != vocab.NUMBER else \
                    (0 if op.name in ("gt", "equals", "not_equals") else 2.5)
            elif op.value == "list":
                cond["value"] = _LISTS[f.type]
            elif op.value == "days":
                cond["value"] = 90
            out.append(cond)
    return out


def wide_settings(base: dict, n: int = 130) -> dict:
    """``base`` (a settings document) with generated exclusions appended up to ``n``."""
    doc = copy.deepcopy(base)
    leaves = every_leaf()
    k = 0
    while len(doc["exclusions"]) < n:
        i = len(doc["exclusions"])
        leaf = leaves[k % len(leaves)]
        k += 1
        if i in (63, 127):  # the sign bit of a word: matches everyone, off everywhere
            crit, on = {"field": "email", "op": "contains", "value": "@"}, False
        elif k % 5 == 0:
            crit, on = {"any": [leaf, {"not": leaves[(k * 7) % len(leaves)]}]}, k % 2 == 0
        elif k % 7 == 0:
            crit, on = {"all": [leaf, leaves[(k * 3) % len(leaves)]]}, True
        else:
            crit, on = leaf, k % 3 == 0
        doc["exclusions"].append({
            "id": f"wide_{i}", "name": f"Wide {i}", "scope": "company" if k % 4 == 0 else "person",
            "exclude_from_sequences": on, "remove_from_active_sequences": False, "criteria": crit,
            "filters": [vocab.email_is_not("someone@example.com")] if k % 6 == 0 else []})
        for j, rs in enumerate(doc["rulesets"]):
            rs["exclusions"][f"wide_{i}"] = (i + j) % 2 == 0
        for j, play in enumerate(doc["plays"]):
            play["audience_exclusions"][f"wide_{i}"] = (i + j) % 9 == 0
    return doc
