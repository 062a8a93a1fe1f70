"""What the Exclusion tab reads from the pages' evaluation instead of planning a point query per contact.

The pages' evaluation (``ordered=True``) keeps, next to each contact's group:

* ``l0, l1, ..``: one bit per **distinct leaf** of every exclusion's criteria and filters (:func:`plan`),
  the very ``leaf_sql`` the pass combines into the masks, computed in the same pass (so a leaf's result
  on the tab is the evaluation's, never a second evaluation);
* ``o0, o1, ..``: the contact's **own** criteria words (``c`` words of the pass: the criteria match the
  contact itself, before company propagation and filters).

From the ``o`` words the evaluation also keeps, per company domain, the first matching contact (by email)
and how many match, for every company-wide exclusion (:func:`company_sql`): the company evidence of the
tab is then one row read by domain, whatever the size of the domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from unify_dash.model import vocabulary as vocab
from unify_dash.model.settings import Settings

WORD_BITS = 64


# --- bit words: the one builder of the evaluation's per-word columns (masks, criteria, audiences, leaves) ---
#
# A set of bits is kept in signed ``BIGINT`` words of 64 bits (bit 63 is the sign bit), so that engines
# without an unsigned 64-bit type (Spark) run the same SQL; numpy reads them as ``uint64``.


def word(value: int) -> str:
    """SQL of a 64-bit word as a signed ``BIGINT`` literal (bit 63 is the sign bit)."""
    value &= (1 << WORD_BITS) - 1
    signed = value - (1 << WORD_BITS) if value >> (WORD_BITS - 1) else value
    return f"({signed})::BIGINT" if signed < 0 else f"{signed}::BIGINT"


def n_words(n: int) -> int:
    """Words for ``n`` bits (at least one)."""
    return max(1, -(-n // WORD_BITS))


def word_sql(bits: Iterable[tuple[int, str]]) -> str:
    """One word (signed BIGINT) whose bit ``b`` (0-63) is set when the boolean SQL of ``(b, sql)`` holds."""
    bits = list(bits)
    if not bits:
        return word(0)
    return "(" + " | ".join(f"(CASE WHEN {sql} THEN {word(1 << b)} ELSE {word(0)} END)" for b, sql in bits) + ")"


def word_columns(bits: Iterable[tuple[int, str]], words: int, prefix: str) -> list[str]:
    """``<word> AS <prefix>0, <word> AS <prefix>1, ..``: bit ``i`` (counted across the words) of the
    columns is set when the boolean SQL of ``(i, sql)`` holds."""
    per: list[list[tuple[int, str]]] = [[] for _ in range(words)]
    for i, sql in bits:
        per[i // WORD_BITS].append((i % WORD_BITS, sql))
    return [f"{word_sql(b)} AS {prefix}{w}" for w, b in enumerate(per)]


def bit_set(prefix: str, i: int) -> str:
    """SQL: bit ``i`` of the words ``<prefix>0, <prefix>1, ..`` is set."""
    return f"({prefix}{i // WORD_BITS} & {word(1 << (i % WORD_BITS))}) != 0"



@dataclass
class LeafPlan:
    """The distinct leaves of a settings document as of a time: ``sqls[b]`` is ``(sql, params)`` of bit
    ``b``; ``index`` rows are ``(exclusion, part, path, leaf, bit)`` for every leaf of every criteria
    (``part`` "criteria") and filter (``part`` "filters[j]")."""

    sqls: list[tuple[str, list]]
    index: list[tuple[int, str, str, dict, int]]

    @property
    def words(self) -> int:
        return n_words(len(self.sqls))


def plan(settings: Settings, as_of: dt.datetime) -> LeafPlan:
    """Every leaf of every exclusion, each distinct leaf SQL once (a bit of the ``l`` words)."""
    sqls: list[tuple[str, list]] = []
    index: list[tuple[int, str, str, dict, int]] = []
    bit_of: dict[tuple[str, str], int] = {}
    for i, e in enumerate(settings.exclusions):
        for part, cond in [("criteria", e.criteria)] + [(f"filters[{j}]", f) for j, f in enumerate(e.filters)]:
            for path, leaf in vocab.leaves(cond):
                sql, params = vocab.leaf_sql(leaf, as_of)
                key = (sql, repr(params))
                if key not in bit_of:
                    bit_of[key] = len(sqls)
                    sqls.append((sql, params))
                index.append((i, part, path, leaf, bit_of[key]))
    return LeafPlan(sqls, index)


def leaf_columns(words: int, own_words: int) -> tuple[str, ...]:
    """The columns the pages' evaluation table carries for the tab: leaf words, then own-criteria words."""
    return tuple(f"l{w}" for w in range(words)) + tuple(f"o{w}" for w in range(own_words))


def bit_of(words: tuple, b: int) -> bool:
    """Bit ``b`` of signed BIGINT words as the SQL returns them."""
    return bool((int(words[b // WORD_BITS]) >> (b % WORD_BITS)) & 1)


def company_sql(settings: Settings, table: str, target: str) -> str | None:
    """``CREATE TABLE target``: per company domain (ordered by domain), for every company-wide exclusion
    ``i``, ``f{i}`` the first contact (by email) whose own criteria match and ``n{i}`` how many do, over the
    pages' evaluation ``table``; None when no exclusion is company-wide. (The pass propagates the same ``o``
    words over the same domains: ``GROUP BY domain bit_or``.)"""
    company = [i for i, e in enumerate(settings.exclusions) if e.company_wide]
    if not company:
        return None
    cols = ", ".join(f"arg_min(email, pos) FILTER (WHERE {bit_set('o', i)}) AS f{i}, "
                     f"count(*) FILTER (WHERE {bit_set('o', i)}) AS n{i}" for i in company)
    return (f"CREATE OR REPLACE TABLE {target} AS SELECT domain, {cols} FROM {table} "
            f"WHERE domain IS NOT NULL AND ({' OR '.join(bit_set('o', i) for i in company)}) GROUP BY domain ORDER BY domain")


def firsts(names: list[str], row: tuple) -> dict:
    """exclusion index -> (first matching email, count) from a row of :func:`company_sql`'s table (selected
    with its column ``names``; an absent row reads as NULLs: none matches)."""
    out = {}
    for k, name in enumerate(names):
        if name.startswith("f") and name[1:].isdigit() and row[k] is not None:
            out[int(name[1:])] = (row[k], int(row[k + 1] or 0))
    return out
