"""The load's measuring scripts run and print their figures (scripts/load_profile.py, index_lookups.py,
limit_eval.py; docs/benchmarks.md "Loading")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from workspace_factory import write_workspace

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str, *args) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_load_profile_times_one_files_typed_pass(tmp_path):
    out = _script("load_profile.py", write_workspace(tmp_path), tmp_path / "unused.duckdb", "--typed", "contacts")
    assert "typed pass of contacts.csv:" in out and " 0 problems" in out
    assert not (tmp_path / "unused.duckdb").exists()


def test_index_lookups_and_limit_eval_on_a_copy(tmp_path, template_db):
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(template_db, copy)
    out = _script("index_lookups.py", copy, "--keys", 3, "--repeats", 1)
    for name in ("idx_contacts_domain", "idx_events_email"):
        assert {w for w in ("index:", "no index, same order:", "no index, sorted by the column:")
                if any(line.startswith(name) and w in line for line in out.splitlines())} == {
            "index:", "no index, same order:", "no index, sorted by the column:"}
    figures = json.loads(_script("limit_eval.py", copy, "--memory-limit", "500MB", "--ticks", 1).splitlines()[-1])
    assert figures["memory_limit"] == "500MB" and figures["contacts"] == 400 and len(figures["ticks"]) == 1
    assert figures["peak_rss_mb"] > 0


def test_load_profile_traces_memory_by_statement(tmp_path):
    out = _script("load_profile.py", write_workspace(tmp_path / "ws"), tmp_path / "new.duckdb", "--memory-trace", 0.002,
                  "--top", 0)
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("memory trace ("))
    assert int(lines[head].split("(")[1].split()[0]) > 0  # samples were taken
    rss = [float(line.split()[1].replace(",", "")) for line in lines[head + 1:] if line[:1] == " " and
           line.split()[0].isdigit()]
    assert rss and rss == sorted(rss, reverse=True) and rss[0] > 10  # the highest RSS first, in MB
