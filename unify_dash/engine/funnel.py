"""Levels and the funnel of a Play: numpy over the evaluation's groups. The single definition of
every bucket (who entered, was excluded at the audience, reached a node, is not enrolled there) that
counts and lists share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from unify_dash.engine.evaluator import (
    BUCKETS,
    EXCLUSION_BUCKETS,
    WORD_BITS,
    Evaluation,
    busy_sequences,
    node_slots,
)
from unify_dash.errors import NotFound, ValidationError
from unify_dash.model.levels import Levels
from unify_dash.model.settings import Play

# --- levels and the funnel (numpy over groups) ---------------------------------------------------------


def _saved_levels(ev: Evaluation) -> Levels:
    """The levels of the evaluation's settings (memoised per evaluation)."""
    lv = ev._memo.get("levels")
    if lv is None:
        lv = ev._memo["levels"] = Levels(ev.settings)
    return lv


def _levels(ev: Evaluation, toggles: dict | None) -> Levels:
    """The saved levels under what-if ``toggles`` (validated by :func:`unify_dash.model.levels.normalise`)."""
    return _saved_levels(ev).with_toggles(toggles)


@dataclass
class _Node:
    id: str
    name: str
    sequence_id: str
    sequence_name: str
    ruleset_id: str
    ruleset_name: str
    condition: dict | None = None
    slot: int | None = None  # column of ev.node_match (a node with a condition)


def _play_nodes(ev: Evaluation, play: Play) -> list[_Node]:
    out = []
    slots = ev._memo.get("node_slots")
    if slots is None:
        slots = ev._memo["node_slots"] = node_slots(ev.settings)
    for n in play.nodes:
        seq = ev.settings.sequence(n.sequence)
        rs = ev.settings.ruleset(seq.ruleset)
        out.append(_Node(n.id, n.name or seq.name, seq.id, seq.name, rs.id, rs.name, n.condition,
                         slots.get((play.id, n.id))))
    return out


def _routes(ev: Evaluation, play: Play, nodes: list[_Node]) -> np.ndarray:
    """bool[G, K]: the nodes a group goes to. Without a node condition: every node. Play branching (a node
    has a condition): the first node, in order, whose condition it meets (no condition: meets all)."""
    G, K = ev.groups, len(nodes)
    if not play.branching:
        return np.ones((G, K), dtype=bool)
    meets = np.stack([ev.node_match[:, nd.slot] if nd.slot is not None else np.ones(G, dtype=bool)
                      for nd in nodes], axis=1)
    first = np.cumsum(meets, axis=1) == 1
    return meets & first


def _busy_blocked(ev: Evaluation, nodes: list[_Node]) -> np.ndarray:
    """bool[G, K]: one active sequence at a time (org setting): queued or active in a sequence other
    than the node's own."""
    seqs = busy_sequences(ev.settings)
    if not seqs or not nodes:
        return np.zeros((ev.groups, len(nodes)), dtype=bool)
    index = {sid: k for k, sid in enumerate(seqs)}
    out = np.zeros((ev.groups, len(nodes)), dtype=bool)
    for k, nd in enumerate(nodes):
        others = np.ones(len(seqs), dtype=bool)
        others[index[nd.sequence_id]] = False
        out[:, k] = (ev.busy & others[None, :]).any(axis=1)
    return out


def _pack(flags: np.ndarray, words: int) -> np.ndarray:
    """bool[n] -> uint64[words] (bit i of word i // 64)."""
    out = np.zeros(words, dtype=np.uint64)
    for i in np.flatnonzero(flags):
        out[i // WORD_BITS] |= np.uint64(1) << np.uint64(i % WORD_BITS)
    return out


def _any_bits(masks: np.ndarray, word: np.ndarray) -> np.ndarray:
    """bool[G]: the mask shares a bit with ``word``."""
    return ((masks & word[None, :]) != 0).any(axis=1)


@dataclass
class _Funnel:
    """One Play under some levels: per group (bool[G]) states, computed on packed mask words."""

    ev: Evaluation
    play: Play
    nodes: list[_Node]
    aud_on: np.ndarray  # bool[n]
    node_on: np.ndarray  # bool[K, n]: on at the organisation level and in the node's ruleset
    aud_word: np.ndarray  # uint64[W]
    node_words: np.ndarray  # uint64[K, W]
    entered: np.ndarray
    live: np.ndarray  # entered and not opted out
    opted_out: np.ndarray
    excluded_at_audience: np.ndarray
    reached: np.ndarray  # passed the audience: reaches the sequence nodes of the Play (its routes)
    node_blocked: np.ndarray  # bool[G, K]: an exclusion on at the node applies
    route: np.ndarray  # bool[G, K]: the nodes the group goes to (every node; branching: one node at most)
    busy_blocked: np.ndarray  # bool[G, K]: one active sequence at a time, active in another sequence
    _sole: dict = field(default_factory=dict)

    def routed(self, k: int | None) -> np.ndarray:
        """Reached the Play and go to node k (k None: to one node or more)."""
        return self.reached & (self.route[:, k] if k is not None else self.route.any(axis=1))

    @property
    def unrouted(self) -> np.ndarray:
        """Reached a branching Play and meet no node's condition."""
        if not self.nodes:
            return np.zeros_like(self.reached)
        return self.reached & ~self.route.any(axis=1)

    def _blocked(self, k: int) -> np.ndarray:
        return self.node_blocked[:, k] | self.busy_blocked[:, k]

    def not_enrolled(self, k: int | None) -> np.ndarray:
        if not self.nodes:
            return np.zeros_like(self.reached)
        if k is None:  # at one node or more
            return self.reached & (self.route & (self.node_blocked | self.busy_blocked)).any(axis=1)
        return self.routed(k) & self._blocked(k)

    def enrolled(self, k: int | None) -> np.ndarray:
        if not self.nodes:
            return np.zeros_like(self.reached)
        if k is None:  # at one node or more
            return self.reached & (self.route & ~self.node_blocked & ~self.busy_blocked).any(axis=1)
        return self.routed(k) & ~self._blocked(k)

    def active_elsewhere(self, k: int | None) -> np.ndarray:
        """Routed to node k (k None: to a node) and blocked there by one active sequence at a time."""
        if not self.nodes:
            return np.zeros_like(self.reached)
        if k is None:
            return self.reached & (self.route & self.busy_blocked).any(axis=1)
        return self.routed(k) & self.busy_blocked[:, k]

    def sole(self, k: int | None) -> np.ndarray:
        """Live groups with exactly one blocker among the audience and node k (k None: the audience);
        at a node: only groups that go to it and are not held by one active sequence at a time."""
        if k not in self._sole:
            word = self.aud_word if k is None else (self.aud_word | self.node_words[k])
            bits = np.bitwise_count(self.ev.masks & word[None, :]).sum(axis=1)
            out = self.live & (bits == 1)
            if k is not None:
                out &= self.route[:, k] & ~self.busy_blocked[:, k]
            self._sole[k] = out
        return self._sole[k]

    def released_on(self, k: int | None) -> np.ndarray:
        return self.aud_on if k is None else (self.aud_on | self.node_on[k])


def _funnel(ev: Evaluation, play_id: str, levels: Levels) -> _Funnel:
    j, play = ev.play(play_id)
    nodes = _play_nodes(ev, play)
    n = len(ev.exclusion_ids)
    W = ev.masks.shape[1]
    aud_on = levels.audiences[play.id]
    node_on = (np.stack([levels.node(nd.ruleset_id) for nd in nodes])
               if nodes else np.zeros((0, n), dtype=bool))
    aud_word = _pack(aud_on, W)
    node_words = np.stack([_pack(x, W) for x in node_on]) if nodes else np.zeros((0, W), dtype=np.uint64)
    entered = ev.audience[:, j] if ev.audience.shape[1] else np.zeros(ev.groups, dtype=bool)
    live = entered & ~ev.opted
    excluded = live & _any_bits(ev.masks, aud_word)
    reached = live & ~excluded
    node_blocked = (np.stack([_any_bits(ev.masks, w) for w in node_words], axis=1) if nodes
                    else np.zeros((ev.groups, 0), dtype=bool))
    return _Funnel(ev, play, nodes, aud_on, node_on, aud_word, node_words, entered, live, entered & ev.opted,
                   excluded, reached, node_blocked, _routes(ev, play, nodes), _busy_blocked(ev, nodes))


def _terms(f: _Funnel, bucket: str, k: int | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """A per-exclusion bucket as terms (name, groups bool[G], exclusions bool[n]): exclusion i counts a
    group when i applies to it and, for some term, the group is in the term's groups and i is on in the
    term's exclusions. The single definition behind impact's counts and drill-down's lists."""
    n = len(f.aud_on)
    ks = range(len(f.nodes)) if k is None else [k]
    if bucket == "matched":
        return [("live", f.live, np.ones(n, dtype=bool))]
    if bucket == "blocking_audience" or bucket == "excluded_at_audience":
        return [("live", f.live, f.aud_on)]
    if bucket == "blocking":
        if k is not None:
            return [(f"routed:{k}", f.routed(k), f.node_on[k])]
        if not f.play.branching:  # every contact that reached the Play goes to every node
            return [("live", f.live, f.aud_on),
                    ("reached", f.reached, f.node_on.any(axis=0) if f.nodes else np.zeros(n, dtype=bool))]
        return [("live", f.live, f.aud_on), *((f"routed:{kk}", f.routed(kk), f.node_on[kk]) for kk in ks)]
    if bucket == "not_enrolled":
        return [(f"not_enrolled:{kk}", f.not_enrolled(kk), f.node_on[kk]) for kk in ks]
    if bucket == "blocks_alone":
        # released if i is turned off everywhere: enrolled at >= 1 node where it is not now, i.e. i is
        # the only blocker at the audience and at that node. A Play without nodes: enters the Play.
        if not f.nodes:
            return [("sole:audience", f.sole(None), f.released_on(None))]
        return [(f"sole:{kk}", f.sole(kk), f.released_on(kk)) for kk in ks]
    raise ValidationError(f"bucket {bucket!r} has no per-exclusion count")


def _term_select(ev: Evaluation, terms: list, i: int) -> np.ndarray:
    groups = np.zeros(ev.groups, dtype=bool)
    for _name, gv, flags in terms:
        if flags[i]:
            groups |= gv
    return ev.matches[:, i] & groups


def _term_counts(ev: Evaluation, terms: list, memo: dict) -> np.ndarray:
    """int64[n]: for every exclusion i, the contacts :func:`_term_select` (terms, i) selects."""
    n = len(ev.exclusion_ids)
    out = np.zeros(n, dtype=np.int64)
    if not terms or not n or not ev.groups:
        return out
    flags = np.stack([t[2] for t in terms])  # T x n
    patterns, inverse = np.unique(flags, axis=1, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    for p in range(patterns.shape[1]):
        chosen = [t for t, on in zip(terms, patterns[:, p], strict=True) if on]
        if not chosen:
            continue
        key = frozenset(t[0] for t in chosen)
        sums = memo.get(key)
        if sums is None:
            groups = np.zeros(ev.groups, dtype=bool)
            for t in chosen:
                groups |= t[1]
            sums = memo[key] = np.rint((ev._weights * groups) @ _matches_f(ev)).astype(np.int64)
        cols = inverse == p
        out[cols] = sums[cols]
    return out


def _matches_f(ev: Evaluation) -> np.ndarray:
    mf = ev._memo.get("matches_f")
    if mf is None:
        mf = ev._memo["matches_f"] = ev.matches.astype(np.float64)
    return mf


def _select(ev: Evaluation, f: _Funnel, bucket: str, k: int | None, i: int | None) -> np.ndarray:
    """bool[G]: the groups of a bucket. The single definition used by counts and by lists."""
    if bucket == "entered":
        return f.entered
    if bucket == "opted_out":
        return f.opted_out
    if bucket == "reached":
        return f.reached if k is None else f.routed(k)
    if bucket == "unrouted":
        return f.unrouted
    if bucket == "active_elsewhere":
        return f.active_elsewhere(k)
    if bucket == "enrolled":
        return f.enrolled(k)
    if bucket in ("excluded_at_audience", "not_enrolled"):
        if i is None:
            return f.excluded_at_audience if bucket == "excluded_at_audience" else f.not_enrolled(k)
        return _term_select(ev, _terms(f, bucket, k), i)
    if bucket in EXCLUSION_BUCKETS:
        if i is None:
            raise ValidationError(f"bucket {bucket!r} needs an exclusion_id")
        return _term_select(ev, _terms(f, bucket, k), i)
    raise ValidationError(f"unknown bucket {bucket!r}; expected one of {', '.join(BUCKETS)}")


def _node_index(f: _Funnel, node_id: str | None) -> int | None:
    if node_id is None:
        return None
    for k, nd in enumerate(f.nodes):
        if nd.id == node_id:
            return k
    raise NotFound(f"unknown node {node_id!r} in play {f.play.id!r}")
