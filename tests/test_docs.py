"""The documentation documents what a user can type, and the README stays a front page.

* docs/rules.md holds the rule tables generated from the vocabulary: every field and operator;
* docs/cli.md documents every sub-command of the parser, with every one of its options;
* README.md is under 250 lines, gives the two setup commands, and every docs/ page it links exists.
"""

import argparse
import re
from pathlib import Path

import pytest

from unify_dash import cli
from unify_dash.model import vocabulary

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
RULES = (DOCS / "rules.md").read_text(encoding="utf-8")
CLI = (DOCS / "cli.md").read_text(encoding="utf-8")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1, "the CLI has one level of sub-commands"
    return dict(actions[0].choices)


SUBCOMMANDS = _subcommands()


def _cli_section(command: str) -> str:
    """The part of docs/cli.md under the heading ``## `unify-dash COMMAND` `` (up to the next ``## ``)."""
    match = re.search(rf"^## `unify-dash {re.escape(command)}`\n(.*?)(?=^## |\Z)", CLI, re.M | re.S)
    assert match, f"docs/cli.md has no section '## `unify-dash {command}`'"
    return match.group(1)


def test_rules_doc_has_the_generated_vocabulary_tables():
    # regenerate with: python -m unify_dash.model.vocabulary
    assert vocabulary.markdown_tables() in RULES


@pytest.mark.parametrize("field", list(vocabulary.FIELDS))
def test_every_field_is_documented(field):
    assert f"`{field}`" in RULES


@pytest.mark.parametrize("op", list(vocabulary.OPERATORS))
def test_every_operator_is_documented(op):
    assert f"`{op}`" in RULES


def test_the_parser_and_the_command_table_agree():
    # every verb the parser accepts is dispatched, and nothing is dispatched that cannot be typed
    assert set(SUBCOMMANDS) == set(cli.COMMANDS)


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_cli_command_has_its_section(command):
    assert f"`unify-dash {command}" in CLI  # the overview table
    _cli_section(command)


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_cli_option_is_documented_in_its_section(command):
    section = _cli_section(command)
    options = [opt for action in SUBCOMMANDS[command]._actions for opt in action.option_strings
               if opt.startswith("--") and opt != "--help"]
    missing = [opt for opt in options if not re.search(rf"{re.escape(opt)}\b", section)]
    assert not missing, f"docs/cli.md, section unify-dash {command}: options not documented: {missing}"


def test_readme_gives_the_two_setup_commands():
    assert "make run" in README and "make test" in README


def test_readme_is_a_front_page():
    lines = README.count("\n") + 1
    assert lines < 250, f"README.md has {lines} lines; move reference material into docs/"


def test_every_docs_page_linked_from_the_readme_exists():
    links = re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#[^)]*)?\)", README)
    assert links, "the README links to docs/"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, f"README.md links to missing pages: {missing}"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_links_between_docs_pages_resolve():
    broken = []
    for page in [ROOT / "README.md", ROOT / "CHANGELOG.md", *DOCS.glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#\s:]*\.md)?(?:#([^)\s]+))?\)", text):
            if not target and not anchor:
                continue
            path = page.parent / target if target else page
            if not path.is_file():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
            elif anchor and anchor not in _anchors(path):
                broken.append(f"{page.relative_to(ROOT)} -> {target}#{anchor}")
    assert not broken, f"broken links: {broken}"
