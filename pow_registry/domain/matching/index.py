"""The index: prepared records in their blocks, queried one record at a time, and the batch
forms (`link`, `dedupe`) built on the same query."""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Iterable, Iterator, Sequence

from pow_registry.domain.matching.compare import _NO_STATS, _explain, _Stats, _weight
from pow_registry.domain.matching.evidence import PRIOR_LOG2_ODDS, Match
from pow_registry.domain.matching.model import DEFAULT_MODEL, MatchModel
from pow_registry.domain.matching.records import MatchRecord, PreparedRecord, prepare

#: Probability at or above which a pair is proposed as a candidate for review. Chosen on
#: bench/matching.py at 50,000 persons × 150,000 inquiries (see bench/README.md): at 0.2
#: precision 0.92 and recall 0.976; 0.3 gives 0.94 / 0.970, 0.1 gives 0.87 / 0.983.
DEFAULT_THRESHOLD = 0.2

#: A block (one blocking key) with more records than this is skipped as uninformative.
DEFAULT_BLOCK_CAP = 1000


def compare(
    a: MatchRecord | PreparedRecord,
    b: MatchRecord | PreparedRecord,
    *,
    index: MatchIndex | None = None,
) -> Match:
    """Score one pair, with the explanation. Term frequencies come from `index` if given."""
    pa = a if isinstance(a, PreparedRecord) else prepare(a)
    pb = b if isinstance(b, PreparedRecord) else prepare(b)
    if index is not None:
        return _explain(pa, pb, index._stats, index.prior)
    return _explain(pa, pb, _NO_STATS, PRIOR_LOG2_ODDS)


def _threshold_weight(threshold: float, prior: float) -> float:
    if not 0.0 < threshold < 1.0:
        raise ValueError("the threshold is a probability strictly between 0 and 1")
    return math.log2(threshold / (1.0 - threshold)) - prior


class MatchIndex:
    """Prepared records, blocked, ready to be queried one record at a time.

    Records are identified by (kind, record_id); adding one that is already there replaces it.
    Term frequencies follow the indexed records, so a pair's score depends on what the index
    holds, never on the order records were added in; or they are frozen (`statistics=`, with a
    fixed `prior`), and then a pair's score depends on the pair alone.

    Blocking is not symmetric (a record with an unsure given name looks among its surname's
    birth years; a sure one does not), so "whom does X find" and "who finds X" differ. With
    ``mutual=True`` the index also remembers every record's lookup keys and
    ``query(record, mutual=True)`` returns both: what a record added last would have found
    plus what every other record would find of it. That is what keeps matching one record at a
    time, as records arrive, equal to matching everything at once (`dedupe`).
    """

    def __init__(
        self,
        records: Iterable[MatchRecord | PreparedRecord] = (),
        *,
        threshold: float = DEFAULT_THRESHOLD,
        prior: float | None = None,
        block_cap: int = DEFAULT_BLOCK_CAP,
        mutual: bool = False,
        statistics: dict[str, object] | None = None,
        model: MatchModel | None = None,
    ) -> None:
        self.threshold = threshold
        self._fixed_prior = prior
        self.block_cap = block_cap
        self.mutual = mutual
        _threshold_weight(threshold, PRIOR_LOG2_ODDS)
        self._slots: list[PreparedRecord | None] = []
        self._free: list[int] = []
        self._by_key: dict[tuple[str, str], int] = {}
        self._normal: dict[str, list[int]] = {}
        self._swapped: dict[str, list[int]] = {}
        # Only with mutual: lookup key → the records that look it up (plainly / swapped).
        self._looks: dict[str, list[int]] = {}
        self._swap_looks: dict[str, list[int]] = {}
        # Frozen statistics (from `statistics()` of an earlier index) make a pair's score depend
        # on the pair alone, not on which records happen to be indexed yet: then matching
        # records one by one as they arrive gives exactly what matching them all at once gives.
        self._frozen = statistics is not None
        # The model comes with frozen statistics (they were frozen together) or is given.
        if statistics is not None:
            self._stats = _Stats.from_dict(statistics)
            if model is not None:
                self._stats.model = model
        else:
            self._stats = _Stats(model or DEFAULT_MODEL)
        for record in records:
            self.add(record)

    @property
    def prior(self) -> float:
        """The prior log2 odds in use: fixed if given, else from the number of records."""
        if self._fixed_prior is not None:
            return self._fixed_prior
        model = self._stats.model
        expected = math.log2(max(model.matches_per_record, 1e-6))
        size = -math.log2(max(len(self._by_key), 1))
        # A learned model knows how many of the records are the man asked about; the hand-set one
        # assumes an index of at least 2^14 records, so that a small one does not inflate scores.
        if model.learned:
            return expected + size + model.prior_offset
        return expected + min(PRIOR_LOG2_ODDS, size)

    @property
    def model(self) -> MatchModel:
        return self._stats.model

    def use_model(self, model: MatchModel) -> None:
        """Score with `model` from now on (blocking does not depend on it, so an index built to
        learn a model can then score with it). Not on frozen statistics: they came with theirs."""
        if self._frozen:
            raise ValueError("this index's statistics are frozen with their model")
        self._stats.model = model

    def __len__(self) -> int:
        return len(self._by_key)

    def statistics(self) -> dict[str, object]:
        """The term frequencies in use, as plain data (JSON-safe) for `MatchIndex(statistics=)`."""
        return self._stats.as_dict()

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[PreparedRecord]:
        for slot in self._by_key.values():
            record = self._slots[slot]
            assert record is not None
            yield record

    def get(self, kind: str, record_id: str) -> PreparedRecord | None:
        slot = self._by_key.get((kind, record_id))
        return None if slot is None else self._slots[slot]

    def add(self, record: MatchRecord | PreparedRecord) -> PreparedRecord:
        """Index a record (replacing the one with the same kind and id, if any)."""
        prepared = record if isinstance(record, PreparedRecord) else prepare(record)
        if prepared.key in self._by_key:
            self.remove(*prepared.key)
        if self._free:
            slot = self._free.pop()
            self._slots[slot] = prepared
        else:
            slot = len(self._slots)
            self._slots.append(prepared)
        self._by_key[prepared.key] = slot
        for key in prepared.index_keys:
            self._normal.setdefault(key, []).append(slot)
        for key in prepared.swap_index_keys:
            self._swapped.setdefault(key, []).append(slot)
        if self.mutual:
            for key in prepared.query_keys:
                self._looks.setdefault(key, []).append(slot)
            for key in prepared.swap_query_keys:
                self._swap_looks.setdefault(key, []).append(slot)
        if not self._frozen:
            self._stats.add(prepared)
        return prepared

    def update(self, record: MatchRecord | PreparedRecord) -> PreparedRecord:
        """Replace a record by its new version (the same as add)."""
        return self.add(record)

    def remove(self, kind: str, record_id: str) -> None:
        """Take a record out of the index; KeyError when it is not there."""
        slot = self._by_key.pop((kind, record_id))
        prepared = self._slots[slot]
        assert prepared is not None
        tables = [(self._normal, prepared.index_keys), (self._swapped, prepared.swap_index_keys)]
        if self.mutual:
            tables += [(self._looks, prepared.query_keys), (self._swap_looks, prepared.swap_query_keys)]
        for blocks, keys in tables:
            for key in keys:
                block = blocks[key]
                block.remove(slot)
                if not block:
                    del blocks[key]
        if not self._frozen:
            self._stats.remove(prepared)
        self._slots[slot] = None
        self._free.append(slot)

    def _candidate_slots(self, prepared: PreparedRecord) -> set[int]:
        cap = self.block_cap
        found: set[int] = set()
        normal, swapped = self._normal, self._swapped
        for key in prepared.query_keys:
            block = normal.get(key)
            if block is not None and len(block) <= cap:
                found.update(block)
            block = swapped.get(key)
            if block is not None and len(block) <= cap:
                found.update(block)
        for key in prepared.swap_query_keys:
            block = normal.get(key)
            if block is not None and len(block) <= cap:
                found.update(block)
        own = self._by_key.get(prepared.key)
        if own is not None:
            found.discard(own)
        return found

    def _finders(self, prepared: PreparedRecord) -> set[int]:
        """The indexed records whose own lookup would find `prepared` (the mirror of
        _candidate_slots, with the same block-size rule)."""
        if not self.mutual:
            raise ValueError("this index was built without mutual=True")
        cap = self.block_cap
        found: set[int] = set()
        normal, swapped, looks, swap_looks = self._normal, self._swapped, self._looks, self._swap_looks
        for key in prepared.index_keys:
            if len(normal.get(key, ())) + (prepared.key not in self._by_key) > cap:
                continue
            found.update(looks.get(key, ()))
            found.update(swap_looks.get(key, ()))
        for key in prepared.swap_index_keys:
            if len(swapped.get(key, ())) + (prepared.key not in self._by_key) > cap:
                continue
            found.update(looks.get(key, ()))
        own = self._by_key.get(prepared.key)
        if own is not None:
            found.discard(own)
        return found

    def candidates(self, record: MatchRecord | PreparedRecord, *, mutual: bool = False) -> list[PreparedRecord]:
        """The records blocking brings together with this one (before any scoring); with
        `mutual`, also those that would find it."""
        prepared = record if isinstance(record, PreparedRecord) else prepare(record)
        slots = self._slots
        found = self._candidate_slots(prepared)
        if mutual:
            found |= self._finders(prepared)
        return [r for s in sorted(found) if (r := slots[s]) is not None]

    def score(self, a: MatchRecord | PreparedRecord, b: MatchRecord | PreparedRecord) -> Match:
        """Score one pair with this index's term frequencies and prior."""
        return compare(a, b, index=self)

    def query(
        self,
        record: MatchRecord | PreparedRecord,
        *,
        threshold: float | None = None,
        limit: int | None = None,
        mutual: bool = False,
        oriented: bool = False,
    ) -> list[Match]:
        """The indexed records that may be the same man, best first, at or above `threshold`.

        The record itself (same kind and id) is never its own candidate. `mutual` (on an index
        built with mutual=True): also the records whose own query would find this one.
        `oriented`: each pair scored as (smaller (kind, id), larger) whichever record asked, so
        a pair has one score (term frequencies make scores slightly asymmetric); the record
        asked about is then on either side.
        """
        prepared = record if isinstance(record, PreparedRecord) else prepare(record)
        prior = self.prior
        cutoff = _threshold_weight(self.threshold if threshold is None else threshold, prior)
        stats, slots = self._stats, self._slots
        found: list[Match] = []
        candidate_slots = self._candidate_slots(prepared)
        if mutual:
            candidate_slots |= self._finders(prepared)
        for slot in candidate_slots:
            other = slots[slot]
            assert other is not None
            a, b = (other, prepared) if oriented and other.key < prepared.key else (prepared, other)
            if _weight(a, b, stats) >= cutoff - 1e-9:
                found.append(_explain(a, b, stats, prior))
        found.sort(key=lambda m: (-m.weight, m.right_kind, m.right_id, m.left_kind, m.left_id))
        return found if limit is None else found[:limit]


# --- batch ----------------------------------------------------------------------------------

_WORKER_INDEX: list[MatchIndex] = []


def _query_chunk(args: tuple[Sequence[MatchRecord], float]) -> list[list[Match]]:
    chunk, threshold = args
    index = _WORKER_INDEX[0]
    return [index.query(record, threshold=threshold) for record in chunk]


def _workers(requested: int | None, size: int) -> int:
    if requested is not None:
        return max(1, requested)
    if size < 20_000:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _query_all(
    index: MatchIndex, records: Sequence[MatchRecord], threshold: float, workers: int
) -> list[list[Match]]:
    """index.query for each record, in order; across `workers` forked processes if > 1."""
    if workers <= 1 or len(records) < 2:
        return [index.query(record, threshold=threshold) for record in records]
    import multiprocessing  # noqa: PLC0415 - only for the batch path

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform: one process
        return [index.query(record, threshold=threshold) for record in records]
    size = max(1, math.ceil(len(records) / (workers * 8)))
    chunks = [(records[i : i + size], threshold) for i in range(0, len(records), size)]
    _WORKER_INDEX[:] = [index]
    # The forked workers share the index's pages until they write to them; the garbage
    # collector's passes over every object would copy them all, so they skip the index.
    gc.freeze()
    try:
        with context.Pool(workers) as pool:
            results = pool.map(_query_chunk, chunks, chunksize=1)
    finally:
        gc.unfreeze()
        _WORKER_INDEX.clear()
    return [matches for chunk in results for matches in chunk]


def link(
    left: Iterable[MatchRecord],
    right: Iterable[MatchRecord | PreparedRecord],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
    index: MatchIndex | None = None,
) -> list[Match]:
    """Every (left, right) pair at or above `threshold`: each left record queried against an
    index of the right ones, so the result is exactly what querying one by one gives.

    Sorted by left record (in input order), then best first. `workers`: processes to spread the
    queries over (default: all cores for 20,000 or more left records, else one). Pass `index`
    to reuse an index already built over `right` (then `right` is ignored).
    """
    if index is None:
        index = MatchIndex(right, threshold=threshold)
    records = list(left)
    per_record = _query_all(index, records, threshold, _workers(workers, len(records)))
    return [match for matches in per_record for match in matches]


def dedupe(
    records: Iterable[MatchRecord | PreparedRecord],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
) -> list[Match]:
    """Pairs of records (of any kinds) that may be the same man, each pair once.

    The union over records of querying each against an index of all of them; each pair is
    reported once, oriented so that (left kind, left id) < (right kind, right id).
    """
    index = MatchIndex(records, threshold=threshold)
    prepared = list(index)
    originals = [p.record for p in prepared]
    per_record = _query_all(index, originals, threshold, _workers(workers, len(originals)))
    seen: dict[tuple[tuple[str, str], tuple[str, str]], Match] = {}
    for matches in per_record:
        for match in matches:
            left, right = match.pair
            if left > right:
                left, right = right, left
            if (left, right) in seen:
                continue
            if match.pair[0] == left:
                seen[(left, right)] = match
            else:
                a, b = index.get(*left), index.get(*right)
                assert a is not None and b is not None
                seen[(left, right)] = _explain(a, b, index._stats, index.prior)
    return sorted(seen.values(), key=lambda m: (m.left_kind, m.left_id, -m.weight, m.right_id))
