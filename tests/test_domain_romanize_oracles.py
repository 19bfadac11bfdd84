"""Romanisation checked against independent oracles (issue 13): `iuliia` for the Russian schemes
and `translitua` for the Ukrainian national system, not against this project's own tables.
All words are generated or fictitious."""

from __future__ import annotations

import iuliia
import pytest
import translitua
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pow_registry.domain.romanize import romanize

RUSSIAN = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
UKRAINIAN = "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя"


def _word(alphabet: str) -> st.SearchStrategy[str]:
    # A name: starts with a letter that can start one (not ъ, ь, ы), capitalised.
    first = "".join(c for c in alphabet if c not in "ъыь")
    return st.builds(lambda a, rest: (a + rest).capitalize(), st.sampled_from(first),
                     st.text(alphabet=alphabet, min_size=1, max_size=10))


@settings(max_examples=400, deadline=None)
@given(_word(RUSSIAN))
def test_icao_matches_iuliia(word: str) -> None:
    assert romanize(word, "icao") == iuliia.ICAO_DOC_9303.translate(word)


@settings(max_examples=400, deadline=None)
@given(_word(RUSSIAN.replace("ы", "").replace("э", "")))
def test_gost_7_79_b_matches_iuliia(word: str) -> None:
    # ы and э left out: the standard's table writes them y' and e' (with an apostrophe), which the
    # registry's table follows; iuliia writes y` in some positions.
    assert romanize(word, "gost779b") == iuliia.GOST_779_ALT.translate(word)


@settings(max_examples=400, deadline=None)
@given(_word(UKRAINIAN))
@example("Азьг")  # found by Hypothesis: з, a soft sign, г is zgh too (it was "Azh", read as ж)
def test_the_ukrainian_national_system_matches_translitua(word: str) -> None:
    assert romanize(word, "ua") == translitua.translit(word)


@pytest.mark.parametrize("word", ["Лейкин", "Виталий", "Евгеньевич", "Артемьев", "Подъячев", "Юрий", "Цой"])
def test_bgn_pcgn_matches_iuliia_up_to_the_apostrophes(word: str) -> None:
    # iuliia writes the soft and hard signs as typographic ’ and ”; the registry's table as ' and ".
    expected = iuliia.BGN_PCGN.translate(word).replace("’", "'").replace("”", '"')
    assert romanize(word, "bgn") == expected
