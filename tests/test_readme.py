"""The README's promises that can rot: its first commands and its configuration table."""

from pathlib import Path

from civic_briefs.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    block = README.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in block] == [["make", "demo"], ["make", "test"]]


def test_every_setting_is_in_the_configuration_table():
    missing = [name for name in Settings.model_fields if f"`BRIEFS_{name.upper()}`" not in README]
    assert missing == []
