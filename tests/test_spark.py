"""The evaluation pass on local Spark gives DuckDB's exact answers (docs/scale-out.md).

Every Play of the demo, with its saved settings and several toggle sets, with the demo's settings and
with 130 exclusions (three mask words, sign bits set): the same groups, the same ``impact()``, the same
CLI JSON, the same drill-down pages and the same Exclusion tab. One SparkSession (local[2]) and one small
demo for the whole module. Skipped, with the reason, without Java or pyspark; ``UNIFY_REQUIRE_SPARK=1``
(CI) turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import random
import shutil

import pytest
import yaml
from wide_settings import wide_settings

from unify_dash import cli, engine
from unify_dash.io import demo
from unify_dash.io.lake import export_lake
from unify_dash.io.load import load_workspace
from unify_dash.model.settings import parse_settings
from unify_dash.reports.bench import random_toggles
from unify_dash.store import db

MASTER = "local[2]"
CONTACTS = 400


def _missing() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java on this machine (apt-get install openjdk-17-jre-headless)"
    for module in ("pyspark", "sqlglot"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install '.[spark]')"
    return None


_REASON = _missing()
if _REASON and os.environ.get("UNIFY_REQUIRE_SPARK"):
    raise RuntimeError(f"UNIFY_REQUIRE_SPARK is set but the Spark tests cannot run: {_REASON}")
pytestmark = [pytest.mark.spark, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The demo in DuckDB, its lake, and the lake opened on local Spark."""
    from unify_dash.engine import spark

    root = tmp_path_factory.mktemp("spark")
    demo.generate(root / "ws", contacts=CONTACTS, seed=42)
    path = root / "w.duckdb"
    con = db.connect(path)
    load_workspace(con, root / "ws")
    export_lake(con, root / "lake")
    lake = spark.Lake(root / "lake", master=MASTER)
    doc = yaml.safe_load((root / "ws" / "settings.yaml").read_text(encoding="utf-8"))
    yield {"con": con, "db": path, "lake": lake, "lake_dir": root / "lake", "doc": doc}
    con.close()


def _same(a: dict, b: dict) -> bool:
    """Equal answers; only the time the evaluation took may differ."""
    return {k: v for k, v in a.items() if k != "evaluate_s"} == {k: v for k, v in b.items() if k != "evaluate_s"}


def _toggle_sets(ev, play_id: str) -> list[dict]:
    rng = random.Random(play_id)
    return [{}] + [random_toggles(rng, ev, play_id) for _ in range(3)]


def _parity(duck, sev) -> list[str]:
    """Every Play and toggle set where impact differs (empty: none)."""
    assert sev.groups == duck.groups and sev.contacts == duck.contacts
    assert (sev.masks == duck.masks).all() and (sev.counts == duck.counts).all()
    assert (sev.opted == duck.opted).all() and (sev.audience == duck.audience).all()
    bad = []
    for p in duck.play_ids:
        for t in _toggle_sets(duck, p):
            if not _same(engine.impact(duck, p, t), engine.impact(sev, p, t)):
                bad.append(f"{p} {t}")
    return bad


def test_demo_settings_same_groups_and_impact_for_every_play_and_toggle_set(ws):
    from unify_dash.engine import spark

    duck = engine.evaluate(ws["con"])
    sev = spark.evaluate_lake(ws["lake"])
    try:
        assert len(duck.play_ids) >= 4
        assert _parity(duck, sev) == []
        # drill-down pages through the lake's group table: the same contacts, reasons and totals
        for p in duck.play_ids:
            for bucket in ("entered", "excluded_at_audience", "not_enrolled"):
                a = engine.drilldown(ws["con"], duck, p, bucket, limit=25, offset=3)
                b = engine.drilldown(None, sev, p, bucket, limit=25, offset=3)
                assert a["total"] == b["total"] and a["rows"] == b["rows"], (p, bucket)
    finally:
        sev.store.drop()


def test_130_exclusions_three_words_with_the_sign_bit(ws):
    from unify_dash.engine import spark

    settings = parse_settings(wide_settings(ws["doc"], 130))
    duck = engine.evaluate(ws["con"], settings=settings)
    sev = spark.evaluate_lake(ws["lake"], settings=settings)
    try:
        assert duck.masks.shape[1] == 3
        for w in (0, 1):  # the exclusions at bits 63 and 127 match everyone: the sign bit is set
            assert ((duck.masks[:, w] >> 63) == 1).all()
        assert _parity(duck, sev) == []
    finally:
        sev.store.drop()


def _cli_json(argv: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(argv) == 0
    return json.loads(out.getvalue())


def test_cli_impact_spark_equals_duckdb_for_every_play(ws):
    duck = engine.evaluation(ws["con"])
    for p in duck.play_ids:
        toggles = [] if p != duck.play_ids[0] else ["--set", f"{duck.exclusion_ids[0]}@organisation=off"]
        base = ["impact", "--play", p, "--json", "--db", str(ws["db"]), *toggles]
        a = _cli_json(base)
        b = _cli_json(base + ["--engine", "spark", "--spark-master", MASTER, "--lake", str(ws["lake_dir"])])
        assert _same(a, b), p


def test_cli_explain_spark_equals_duckdb(ws):
    con = ws["con"]
    emails = [r[0] for r in con.execute(
        "SELECT email FROM contacts WHERE domain IN (SELECT domain FROM company_records) ORDER BY email LIMIT 3").fetchall()]
    emails += [r[0] for r in con.execute(
        "SELECT email FROM contacts WHERE domain IS NULL OR is_free_mail ORDER BY email LIMIT 1").fetchall()]
    emails += [r[0] for r in con.execute(
        "SELECT email FROM contacts WHERE email IN (SELECT lower(email) FROM events WHERE type = 'opt_out') "
        "ORDER BY email LIMIT 1").fetchall()]
    for email in emails:
        base = ["explain", email, "--json", "--db", str(ws["db"])]
        a = _cli_json(base)
        b = _cli_json(base + ["--engine", "spark", "--spark-master", MASTER, "--lake", str(ws["lake_dir"])])
        assert _same(a, b), email


def test_unknown_email_on_spark_is_a_clear_error(ws, capsys):
    code = cli.main(["explain", "nobody@nowhere.example", "--engine", "spark", "--spark-master", MASTER,
                     "--lake", str(ws["lake_dir"])])
    assert code == 1
    assert "unknown email" in capsys.readouterr().err
