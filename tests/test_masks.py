"""Mask words are signed BIGINT in SQL and uint64 in numpy: bit 63 (the sign bit) and the words past it
mean exactly what the other bits mean."""

from __future__ import annotations

import numpy as np
from engine_factory import Workspace, doc, exclusion

from unify_dash import engine
from unify_dash.engine.evaluator import mask_words


def test_signed_words_read_as_the_same_bits():
    words = mask_words([-1, -(2**63), 1, 2**63 - 1])
    assert words.dtype == np.uint64
    assert words.tolist() == [2**64 - 1, 2**63, 1, 2**63 - 1]


def test_bit_63_and_a_third_word_count_like_any_other_bit(con):
    ws = Workspace(con)
    ws.contact("ann@acme.com", title="CEO")
    ws.contact("bob@acme.com", title="Engineer")
    ws.contact("cy@other.com", title="CEO")
    never = {"field": "title", "op": "equals", "value": "nobody"}
    ceo = {"field": "title", "op": "equals", "value": "ceo"}
    exclusions = [exclusion(f"x{i}", never) for i in range(130)]
    exclusions[63] = exclusion("x63", ceo)  # the sign bit of word 0
    exclusions[127] = exclusion("x127", ceo, scope="company")  # the sign bit of word 1: all of acme.com
    exclusions[129] = exclusion("x129", ceo)  # word 2
    ws.save(doc(exclusions=exclusions))
    ev = engine.evaluation(con)
    assert ev.masks.shape[1] == 3
    out = {x["id"]: x["matched"] for x in engine.impact(ev, "play")["exclusions"]}
    assert (out["x63"], out["x127"], out["x129"]) == (2, 3, 2)
    assert sum(out.values()) == 7
    assert engine.impact(ev, "play")["not_enrolled"] == 3
