"""The pronunciation lexicon (civic_briefs.lexicon): what each renderer is given for listed words."""

from __future__ import annotations

import pytest

from civic_briefs import lexicon
from civic_briefs.lexicon import LexiconError


def test_the_package_lexicon_lists_the_demo_names_and_acronyms():
    words = lexicon.default().entries
    assert {"Kowalski", "Cicilline", "Inhofe", "Klobuchar", "Sinema", "Kaine", "Bonamici", "GAO", "EEOC"} <= words.keys()
    assert words["Kowalski"].alias == "kuh-WALL-skee" and words["Kowalski"].espeak == "k@w'A:lski"


def test_elevenlabs_text_carries_the_respellings_whole_words_only():
    words = lexicon.default()
    assert words.for_elevenlabs("Kowalski's bill, the GAO and Sen. Inhofe.") == \
        "kuh-WALL-skee's bill, the G-A-O and Sen. IN-hoff."
    # not inside other words, not in another case
    assert words.for_elevenlabs("Kowalskis GAOs gao MoranX") == "Kowalskis GAOs gao MoranX"


def test_espeak_text_carries_phonemes_with_a_spoken_possessive():
    words = lexicon.default()
    assert words.for_espeak("Ask Kowalski.") == "Ask [[k@w'A:lski]]."
    assert words.for_espeak("Inhofe's and Scalise's bills") == "[['InhA:fs]] and [[sk@l'i:sIz]] bills"
    assert words.for_espeak("Noted by NOAA") == "Noted by NOAA"  # no phonemes listed: espeak says it right


def test_the_version_changes_with_the_entries(tmp_path):
    one = tmp_path / "one.toml"
    one.write_text('[[word]]\nword = "Kowalski"\nalias = "kuh-WALL-skee"\n')
    two = tmp_path / "two.toml"
    two.write_text('[[word]]\nword = "Kowalski"\nalias = "koh-WALL-skee"\n')
    assert lexicon.load(one).version != lexicon.load(two).version == lexicon.load(two).version


@pytest.mark.parametrize("body,message", [
    ('[[word]]\nword = "Two words"\nalias = "x"\n', "not one word"),
    ('[[word]]\nword = "Kowalski"\n', "neither alias nor espeak"),
    ('[[word]]\nword = "Kowalski"\nespeak = "k@ w]]"\n', "not espeak phonemes"),
    ('[[word]]\nword = "A"\nalias = "x"\n[[word]]\nword = "A"\nalias = "y"\n', "twice"),
    ('[[word]\n', "not valid TOML"),
])
def test_a_malformed_lexicon_is_refused_saying_why(tmp_path, body, message):
    path = tmp_path / "lexicon.toml"
    path.write_text(body)
    with pytest.raises(LexiconError, match=message):
        lexicon.load(path)
