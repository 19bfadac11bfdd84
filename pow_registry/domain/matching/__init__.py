"""The matcher: which inquiries, persons and reports are about the same man, and why.

A pure library (no Flask, no database). It links inquiry ↔ person, person ↔ person (the same
man reported twice) and inquiry ↔ inquiry (two relatives asking about one son), in the shape
matching.md describes:

1. **Prepare** each record once (`prepare`): name skeletons per part, including de-inflected
   forms of a surname copied from a letter (Выдумкина → Выдумкин) and alternative Latin
   readings; the given name and the patronymic read as name classes across Russian,
   Ukrainian and Latin, diminutives included (given_names); the birth date as a PartialDate;
   the five-digit unit number; the place as skeleton tokens; the event date (capture for a
   person, last contact for an inquiry); the service category.
2. **Block** in several passes so one noisy field does not lose the pair: surname key +
   given-name class; surname key + full birth date; surname with one letter deleted + given-name
   class (typos); the first five letters of a long surname + given-name class; unit number +
   given-name class + the surname's first letter; given-name class + patronymic class + birth
   year; given-name class + full birth date; and, only when the given name cannot be relied on
   (missing, unknown, fuzzy, an ambiguous diminutive), surname key (or one letter deleted) +
   birth year ±1. Each pass also runs with surname and given name swapped. Blocks larger than
   `block_cap` are skipped. The cost grows with the number of plausible pairs (about 14
   candidates per inquiry against 50,000 persons), not with the product of the table sizes.
3. **Score** each candidate pair field by field with Fellegi–Sunter weights, log2(m/u) bits,
   where m is how often a true match lands on that level and u how often a non-match does.
   Agreement on a surname, given name, patronymic or unit is adjusted by how common the value
   is in the indexed records (term frequency: agreeing on Иванов is weak evidence, on
   Выдумкин strong). Disagreeing birth dates and units weigh strongly against: namesakes must
   not outrank the true man. The weights and a prior make a probability in [0, 1]; the
   per-field weights are kept as the explanation (`Match.fields`, `Match.explain()`).

`MatchIndex` holds prepared records and can be changed one record at a time (add, update,
remove) and queried for one record's candidates; `link` and `dedupe` are the batch forms and
give exactly the pairs querying one by one gives (they are built on the same query), spread
over processes for large inputs.

The morphology level (pymorphy3 or suffix rules only) is optional; `morphology.backend()` says
which one runs, and each explanation that relied on it says so.
"""

from pow_registry.domain.matching.estimate import estimate_model
from pow_registry.domain.matching.evidence import PRIOR_LOG2_ODDS, FieldEvidence, Match, Ref, Say
from pow_registry.domain.matching.index import (
    DEFAULT_BLOCK_CAP,
    DEFAULT_THRESHOLD,
    MatchIndex,
    compare,
    dedupe,
    link,
)
from pow_registry.domain.matching.model import DEFAULT_MODEL, MatchModel
from pow_registry.domain.matching.records import (
    MatchRecord,
    PreparedRecord,
    normalise_service_category,
    prepare,
)

__all__ = [
    "DEFAULT_BLOCK_CAP",
    "DEFAULT_MODEL",
    "DEFAULT_THRESHOLD",
    "PRIOR_LOG2_ODDS",
    "FieldEvidence",
    "Match",
    "MatchIndex",
    "MatchModel",
    "MatchRecord",
    "PreparedRecord",
    "Ref",
    "Say",
    "compare",
    "dedupe",
    "estimate_model",
    "link",
    "normalise_service_category",
    "prepare",
]
