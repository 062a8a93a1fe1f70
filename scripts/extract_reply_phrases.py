"""Extract real translations of mail phrases from the locale files of open-source mail software into
tests/data/replies/src/public_phrases.csv (columns lang, key, text, source).

The phrases are what translators of these projects wrote, in 18 languages: the footer link
"Unsubscribe" and "Don't want to receive these e-mails?", "Unsubscribe from all future e-mails",
"You have unsubscribed successfully" (listmonk, i18n/<lang>.json); "This message is junk",
"Successfully reported as junk" (Roundcube markasjunk plugin) and the "Out of Office" label
(Roundcube managesieve plugin). scripts/build_reply_corpus.py puts them into replies (an
out-of-office whose own footer says "Unsubscribe", a reply "This message is junk.", a quoted
newsletter footer under a question, ...) and records each row's ``source``.

The repositories are read as bare git directories (the ``fetch`` tool's snapshots); the CSV is
committed, so building the corpus needs no network:

    python scripts/extract_reply_phrases.py \\
        --listmonk /work/.mirror/knadh+listmonk/repo --roundcube /work/.mirror/roundcube+roundcubemail/repo
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "replies" / "src" / "public_phrases.csv"

# corpus language -> (listmonk i18n file stem, Roundcube locale)
LOCALES = {
    "en": ("en", "en_US"), "de": ("de", "de_DE"), "fr": ("fr", "fr_FR"), "es": ("es", "es_ES"),
    "nl": ("nl", "nl_NL"), "pt": ("pt", "pt_PT"), "it": ("it", "it_IT"), "pl": ("pl", "pl_PL"),
    "ja": ("ja", "ja_JP"), "zh": ("zh-CN", "zh_CN"), "ko": ("ko", "ko_KR"), "ru": ("ru", "ru_RU"),
    "sv": ("sv", "sv_SE"), "da": ("da", "da_DK"), "no": ("no", "nb_NO"), "fi": ("fi", "fi_FI"),
    "cs": ("cs", "cs_CZ"), "tr": ("tr", "tr_TR"),
}
LISTMONK_KEYS = ("email.unsub", "email.unsubHelp", "public.unsubFull", "public.unsubscribeTitle",
                 "public.unsubbedInfo", "public.blocklisted", "public.unsubHelp", "public.managePrefs")
ROUNDCUBE = {  # plugin file -> keys
    "plugins/markasjunk/localization/{loc}.inc": ("buttonjunk", "reportedasjunk", "markasjunk"),
    "plugins/managesieve/localization/{loc}.inc": ("vacation",),
}
_PHP = re.compile(r"""\$(?:labels|messages)\['([^']+)'\]\s*=\s*'((?:[^'\\]|\\.)*)';""")


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True,
                          text=True).stdout


def listmonk(git_dir: str) -> list[dict]:
    commit = _git(git_dir, "rev-parse", "HEAD").strip()
    rows = []
    for lang, (stem, _) in LOCALES.items():
        path = f"i18n/{stem}.json"
        data = json.loads(_git(git_dir, "show", f"HEAD:{path}"))
        for key in LISTMONK_KEYS:
            text = (data.get(key) or "").strip()
            if text:
                rows.append({"lang": lang, "key": f"listmonk:{key}", "text": text,
                             "source": f"knadh/listmonk@{commit[:12]}:{path}#{key}"})
    return rows


def roundcube(git_dir: str) -> list[dict]:
    commit = _git(git_dir, "rev-parse", "HEAD").strip()
    rows = []
    for lang, (_, loc) in LOCALES.items():
        for pattern, keys in ROUNDCUBE.items():
            path = pattern.format(loc=loc)
            try:
                src = _git(git_dir, "show", f"HEAD:{path}")
            except subprocess.CalledProcessError:
                continue  # no translation of this plugin in this language
            found = {k: v.replace("\\'", "'") for k, v in _PHP.findall(src)}
            for key in keys:
                text = (found.get(key) or "").strip().rstrip(".")
                if text:
                    rows.append({"lang": lang, "key": f"roundcube:{key}", "text": text,
                                 "source": f"roundcube/roundcubemail@{commit[:12]}:{path}#{key}"})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listmonk", required=True, help="git dir of knadh/listmonk")
    parser.add_argument("--roundcube", required=True, help="git dir of roundcube/roundcubemail")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    rows = listmonk(args.listmonk) + roundcube(args.roundcube)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["lang", "key", "text", "source"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{args.out}: {len(rows)} phrases in {len({r['lang'] for r in rows})} languages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
