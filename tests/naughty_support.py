"""Hostile input for the dashboard tests: the Big List of Naughty Strings (tests/data/blns/), a workspace
whose text columns carry them, and a model of what Streamlit's Markdown renderer makes of an element.

The model (:func:`analyse`) parses an element's Markdown with markdown-it (CommonMark, GFM tables and
strikethrough, ``$`` math), then applies to every text node the rewrites Streamlit's frontend applies
after parsing (read from its bundle, streamlit 1.67: GFM autolinks, typographic pairs such as ``--``,
``:shortcode:`` emoji, the ``:streamlit:`` logo, ``:material/...:`` icons, ``:color[...]`` directives).
It returns the text a person sees and every construct the source would render (a link, an image, a
formula, an autolink, a rewrite), so a test can ask "is the value shown as written, and did the data
bring no construct?" without trusting the helper under test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from unify_dash.errors import ValidationError
from unify_dash.model import identity

DATA = Path(__file__).resolve().parent / "data" / "blns"
BLNS: list[str] = json.loads((DATA / "blns.json").read_text(encoding="utf-8"))

WORD_JOINER = "\u2060"
OWN_LINK = "./contact?email="  # the only link the app writes from data: its own Contact page
# Text-node rewrites of Streamlit's Markdown component (StreamlitMarkdown.*.js).
TEXT_REWRITES = {
    "autolink": re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.I),
    "email autolink": re.compile(r"(?:(?<=^)|(?<=[\s\W]))([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)"),
    "typography": re.compile(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)"),
    "emoji shortcode": re.compile(r":(?!material/|streamlit:)[\w+-][\w_+-]*:"),
    "streamlit logo": re.compile(r":streamlit:"),
    "material icon": re.compile(r":material[/_][a-z0-9_]+:"),
    "directive": re.compile(r":[a-z][a-z0-9-]*\["),
}
_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"]).use(dollarmath_plugin)
_BADGE = re.compile(r"^:[a-z]+-badge\[(.*)\]$", re.S)
_OWN_ICON = re.compile(r"^:material/[a-z0-9_]+: ")


@dataclass
class Rendered:
    text: str  # what a person reads (word joiners removed, whitespace collapsed)
    constructs: list[str] = field(default_factory=list)  # what the source renders besides text


def norm(text: str) -> str:
    return " ".join(str(text).replace(WORD_JOINER, "").split())


def analyse(source: str) -> Rendered:
    """What Streamlit shows for the Markdown ``source`` (see the module docstring)."""
    source = str(source)
    badge = _BADGE.match(source)  # st.badge: our own directive around the label
    if badge:
        source = _OWN_ICON.sub("", badge.group(1))
    out = Rendered("")
    if ":material/" in source:
        out.constructs.append("material icon (raw)")
    parts: list[str] = []
    for token in _PARSER.parse(source):
        if token.type in ("math_block", "math_block_label", "html_block"):
            out.constructs.append(token.type)
        for child in token.children or []:
            if child.type == "image" or child.type.startswith("math") or child.type == "html_inline":
                out.constructs.append(f"{child.type} {child.content!r}")
            elif child.type == "link_open" and not str(child.attrs.get("href", "")).startswith(OWN_LINK):
                out.constructs.append(f"link {child.attrs.get('href')!r}")
            elif child.type == "text":
                out.constructs += [f"{name} {m.group(0)!r}" for name, rx in TEXT_REWRITES.items()
                                   for m in rx.finditer(child.content)]
                parts.append(child.content)
            elif child.type == "code_inline":
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append(" ")
        if token.type in ("code_block", "fence"):
            parts.append(token.content)
        parts.append(" ")
    out.text = norm("".join(parts))
    return out


# --- what an AppTest run shows -----------------------------------------------------------------------------


@dataclass
class Element:
    kind: str
    source: str
    markdown: bool  # rendered as Markdown (else shown as plain text: tables, select options)


MARKDOWN_BODIES = ("markdown", "caption", "title", "header", "subheader", "info", "warning", "error", "success",
                   "latex")
LABELLED = ("button", "toggle", "checkbox", "metric", "expander", "tab", "radio", "text_input", "text_area",
            "selectbox", "multiselect", "number_input", "date_input", "time_input", "download_button")


def elements(at) -> list[Element]:
    """Every text an AppTest run put on the page, with whether Streamlit renders it as Markdown."""
    out: list[Element] = []
    for kind in MARKDOWN_BODIES:
        for e in getattr(at, kind):
            out.append(Element(kind, str(e.value), kind != "latex"))
            if getattr(e.proto, "help", ""):
                out.append(Element(f"{kind} help", e.proto.help, True))
    for kind in LABELLED:
        for e in at.get(kind):
            label = getattr(e, "label", None)
            if label:
                out.append(Element(f"{kind} label", str(label), True))
            help_text = getattr(e.proto, "help", "")
            if help_text:
                out.append(Element(f"{kind} help", help_text, True))
            options = list(getattr(e, "options", None) or [])
            out += [Element(f"{kind} option", str(o), kind == "radio") for o in options]
    for e in at.get("button_group"):  # st.pills, st.segmented_control: options are Markdown
        out += [Element("pills option", o.content, True) for o in e.proto.options]
    for e in at.get("badge") if hasattr(at, "badge") else []:
        out.append(Element("badge", str(e.value), True))
    for e in at.dataframe:
        frame = e.value
        cells = [str(c) for c in frame.columns] + [str(v) for col in frame.columns for v in frame[col].tolist()]
        out += [Element("dataframe cell", c, False) for c in cells]
    return out


def shown_texts(at) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
    """(the text a person reads in each Markdown element, in each plain element (tables, select
    options), every construct the page's Markdown renders as ``(kind, construct, source)``)."""
    markdown, plain, constructs = [], [], []
    for e in elements(at):
        if e.markdown:
            r = analyse(e.source)
            markdown.append(r.text)
            constructs += [(e.kind, c, e.source) for c in r.constructs]
        else:
            plain.append(norm(e.source))
    return markdown, plain, constructs


# --- a workspace whose every text column carries the strings --------------------------------------------


# The issue's own examples, first: they land in exclusion names, the first contact's names and title,
# and the first email local part.
ISSUE_EXAMPLES = ["[Verify your account](https://evil.example/login)", "![x](http://127.0.0.2:9/beacon)",
                  "'; DROP TABLE contacts; --"]


def risky_first(strings: list[str]) -> list[str]:
    """``strings`` with the issue's examples first, then those Streamlit would not show as written
    (a construct, or a rewrite of the text), then the rest."""
    def risky(s: str) -> bool:
        r = analyse(s)
        return bool(r.constructs) or r.text != norm(s)

    rest = [s for s in strings if s not in ISSUE_EXAMPLES]
    return ISSUE_EXAMPLES + [s for s in rest if risky(s)] + [s for s in rest if not risky(s)]


def valid_local_part(s: str) -> bool:
    """Usable as an email's local part by the loader (``[^@\\s]+@[^@\\s]+``) and kept as written by its
    normalisation (:func:`unify_dash.model.identity.normalize_email`: NFKC, trim, lower case)."""
    if not s or re.search(r"[@\s]", s) or not s.isprintable():
        return False
    try:
        return identity.normalize_email(f"{s}@naughty.example") == f"{s}@naughty.example"
    except ValidationError:
        return False


@dataclass
class NaughtyWorkspace:
    folder: Path
    settings_strings: dict[str, str]  # where -> the string (exclusion name, play name, ...)
    contacts: list[dict]  # the naughty contacts as written
    strings_used: int


def build(root: Path, write_workspace, strings: list[str] | None = None, exclusions: int = 20) -> NaughtyWorkspace:
    """A workspace (from ``workspace_factory.write_workspace``) whose names, descriptions, titles, email
    local parts, reply texts and notes are the strings, every string used at least once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    strings = risky_first(list(strings or BLNS))
    where: dict[str, str] = {}
    names = [s for s in strings if s.strip()]  # a name or a criteria value cannot be blank
    xs = []
    for i in range(exclusions):
        xs.append({"id": f"x{i}", "name": names[i], "description": names[exclusions + i], "scope": "person",
                   "criteria": {"field": "title", "op": "equals", "value": names[2 * exclusions + i]}})
        where[f"exclusion x{i} name"] = names[i]
        where[f"exclusion x{i} description"] = names[exclusions + i]
    rest = names[3 * exclusions:]
    r = iter(rest)
    settings = {
        "org": {"propagation_minutes": 15},
        "exclusions": [{"id": "open_opp", "name": next(r), "scope": "company",
                        "criteria": {"field": "open_opportunities", "op": "gt", "value": 0}}, *xs],
        "rulesets": [{"id": "default", "name": next(r),
                      "exclusions": {"open_opp": True, **{x["id"]: True for x in xs}}},
                     {"id": "nurture", "name": next(r), "exclusions": {"open_opp": False}}],
        "sequences": [{"id": "seq_outbound", "name": next(r), "ruleset": "default",
                       "steps": [{"delay_days": 0, "subject": next(r)}]},
                      {"id": "seq_nurture", "name": next(r), "ruleset": "nurture",
                       "steps": [{"delay_days": 0, "subject": next(r)}]}],
        "plays": [{"id": "play_main", "name": next(r), "audience": {"field": "country", "op": "in", "value": ["US"]},
                   "nodes": [{"id": "n1", "name": next(r), "sequence": "seq_outbound"}]}],
    }
    where["exclusion open_opp name"] = settings["exclusions"][0]["name"]
    where["ruleset default name"] = settings["rulesets"][0]["name"]
    where["ruleset nurture name"] = settings["rulesets"][1]["name"]
    where["sequence seq_outbound name"] = settings["sequences"][0]["name"]
    where["sequence seq_nurture name"] = settings["sequences"][1]["name"]
    where["play play_main name"] = settings["plays"][0]["name"]
    where["node n1 name"] = settings["plays"][0]["nodes"][0]["name"]
    used = 3 * exclusions + 9

    # contacts: every string once more in first name, last name, title; a valid local part becomes an email
    contacts = []
    base = [("c1", "ana@acme.com"), ("c2", "bob@acme.com"), ("c3", "carol@gmail.com"), ("c4", "dan@globex.io"),
            ("c5", "eve@initech.com")]
    for cid, email in base:
        contacts.append({"contact_id": cid, "email": email, "first_name": cid, "last_name": None, "title": None,
                         "country": "US"})
    locals_ = iter(dict.fromkeys(s for s in strings if valid_local_part(s)))
    for i in range(0, len(strings), 3):
        first, last, title = (strings + ["", ""])[i:i + 3]
        local = next(locals_, None)
        contacts.append({"contact_id": f"n{i}", "email": f"{local}@naughty.example" if local else f"n{i}@naughty.example",
                         "first_name": first, "last_name": last, "title": title, "country": "US"})
    # titles that the exclusions match: each exclusion blocks one contact
    for k, x in enumerate(xs):
        contacts[5 + k]["title"] = x["criteria"]["value"]
    columns = ["contact_id", "email", "first_name", "last_name", "title", "country"]
    table = pa.table({c: pa.array([row[c] for row in contacts], type=pa.string()) for c in columns})
    folder = write_workspace(root, {"settings.yaml": None, "contacts.csv": None, "events.csv": None})
    (folder / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    pq.write_table(table, folder / "contacts.parquet")
    return NaughtyWorkspace(folder, where, contacts[5:], used + len(strings))
