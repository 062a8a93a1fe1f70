"""The README documents what a user can type: every rule field and operator, every CLI command."""

from pathlib import Path

import pytest

from unify_dash import cli
from unify_dash.model import vocabulary

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_has_the_generated_vocabulary_tables():
    # regenerate with: python -m unify_dash.model.vocabulary
    assert vocabulary.markdown_tables() in README


@pytest.mark.parametrize("field", list(vocabulary.FIELDS))
def test_every_field_is_documented(field):
    assert f"`{field}`" in README


@pytest.mark.parametrize("op", list(vocabulary.OPERATORS))
def test_every_operator_is_documented(op):
    assert f"`{op}`" in README


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_cli_command_is_documented(command):
    assert f"unify-dash {command}" in README


def test_readme_gives_the_two_setup_commands():
    assert "make run" in README and "make test" in README
