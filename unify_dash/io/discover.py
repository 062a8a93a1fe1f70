"""Finding Salesforce and HubSpot exports in a workspace folder by their content: CSV in any encoding,
Parquet, HubSpot XLSX, the Salesforce Data Export ZIP (read in place), and files a ``mapping.yaml`` names.

Every file is looked at. A file the loader cannot use where that loses data (named like an export but
without its columns, people with email columns under a CRM mapping, a mapping's CRM without its
contacts) is an error; anything else it leaves out is a warning.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from unify_dash.io import encoding, recognise
from unify_dash.io.export_columns import known_headers
from unify_dash.io.recognise import HS, SF, Kind
from unify_dash.io.workspace import RECORD_FILES, Loading

FILE_EXTS = (".csv", ".parquet", ".xlsx", ".zip")
MAPPING_FILES = ("mapping.yaml", "mapping.yml")
HEAD_BYTES = 1 << 16


@dataclass
class ExportFile:
    """One export found: the file to read (UTF-8 CSV or Parquet) and what it is."""

    kind: Kind
    label: str  # as the user knows it: hubspot/hubspot-crm-exports-all-contacts-2025-03-01.csv, Export.zip/Contact.csv
    path: Path
    rename: dict[str, str]
    headers: str  # how its headers are written
    encoding: str
    fmt: str  # csv, parquet, xlsx, zip
    summary: dict = field(default_factory=dict)


def _scratch_file(ld: Loading, prefix: str) -> Path:
    """A new file in the load's scratch folder (removed when the load ends, whatever happens)."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".csv", dir=ld.scratch())
    os.close(fd)
    return Path(name)


def _header_of(data: bytes) -> list[str]:
    first = data.split(b"\n", 1)[0]
    for codec in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = first.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace").split("\n", 1)[0]
    try:
        return [h.strip().lstrip("\ufeff") for h in next(csv.reader(io.StringIO(text)))]
    except (csv.Error, StopIteration):
        return []


def _xlsx_to_csv(ld: Loading, path: Path, label: str) -> Path | None:
    """The first sheet of a HubSpot XLSX export as a UTF-8 CSV (dates ISO, booleans true/false)."""
    import openpyxl  # only for XLSX files

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable workbook is the same user problem
        ld.problem(label, None, None, f"cannot read the file as an Excel workbook ({type(err).__name__}); "
                                      "expected an .xlsx file as HubSpot exports it")
        return None
    target = _scratch_file(ld, "xlsx-")
    with open(target, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for row in book.worksheets[0].iter_rows(values_only=True):
            writer.writerow([_cell(v) for v in row])
    book.close()
    return target


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def read_mapping(ld: Loading, folder: Path) -> dict[str, dict]:
    """``mapping.yaml``: files of another layout, ``{path: {kind: "salesforce Contact", columns: {header:
    canonical header}}}`` under ``files:``. Returns lower-case path -> {kind, columns, label}."""
    path = next((p for p in folder.iterdir() if p.name.lower() in MAPPING_FILES and p.is_file()), None)
    if path is None:
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        ld.problem(path.name, None, None, f"cannot read the mapping ({str(err).splitlines()[0]}); expected YAML "
                                          "such as files: {custom/people.csv: {kind: salesforce Contact, "
                                          "columns: {E-mail: Email}}}")
        return {}
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        ld.problem(path.name, 1, "files", "expected a mapping 'files:' of file paths to {kind, columns}")
        return {}
    out = {}
    for name, spec in files.items():
        where = f"files.{name}"
        kind = recognise.kind_from_text(str(spec.get("kind", ""))) if isinstance(spec, dict) else None
        if kind is None:
            kinds = ", ".join(f"{k.crm} {k.obj}" for k in recognise.KINDS)
            ld.problem(path.name, None, f"{where}.kind", f"unknown or missing kind; expected one of {kinds}")
            continue
        columns = spec.get("columns") or {}
        if not isinstance(columns, dict):
            ld.problem(path.name, None, f"{where}.columns", "expected a mapping of file headers to columns")
            continue
        targets = {h.lower(): h for h in known_headers(kind)}
        mapped = {}
        for header, target in columns.items():
            canonical = targets.get(str(target).lower())
            if canonical is None:
                ld.problem(path.name, None, f"{where}.columns.{header}",
                           f"{target!r} is not a {kind.label} column; expected one of {', '.join(targets.values())}")
                continue
            mapped[str(header).lower()] = canonical
        target_path = (folder / str(name))
        if not target_path.is_file():
            ld.problem(path.name, None, where, f"file {name!r} does not exist in the workspace folder; expected the "
                                               "path of an export file relative to the folder")
            continue
        out[str(target_path.resolve()).lower()] = {"kind": kind, "columns": mapped}
    return out


def _candidates(ld: Loading, folder: Path) -> list[tuple[Path, str, str | None]]:
    """(path, label, crm of its folder) for every file that may be an export; a link out of the workspace
    root is a problem and never opened (Loading.confined)."""
    out = []
    workspace_files = {f"{stem}{e}" for stem in RECORD_FILES for e in (".csv", ".parquet")}
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir() and p.name.lower() in (SF, HS):
            if not ld.confined(p, f"{p.name}/"):
                continue
            for q in sorted(p.iterdir()):
                if q.is_file() and not q.name.startswith(".") and ld.confined(q, f"{p.name}/{q.name}"):
                    out.append((q, f"{p.name}/{q.name}", p.name.lower()))
        elif p.is_file() and p.suffix.lower() in FILE_EXTS and p.name.lower() not in workspace_files \
                and ld.confined(p, p.name):
            out.append((p, p.name, None))
    return out


def find_exports(ld: Loading, folder: Path) -> dict[tuple[str, str], ExportFile]:
    """The exports present: ``(crm, object) -> ExportFile``. Every file is looked at; problems (an export
    it cannot use where that would lose data) are errors, everything else it leaves is a warning."""
    mapping = read_mapping(ld, folder)
    out: dict[tuple[str, str], ExportFile] = {}
    seen_mapped: set[str] = set()
    ld.crm_seen = set()
    for path, label, crm in _candidates(ld, folder):
        ext = path.suffix.lower()
        if crm is None:
            ld.crm_seen.add(path.name.lower())
        spec = mapping.get(str(path.resolve()).lower())
        if spec:
            seen_mapped.add(str(path.resolve()).lower())
        if ext == ".zip":
            _zip_members(ld, path, label, crm, out)
            continue
        if ext not in FILE_EXTS:
            if crm is not None:
                ld.warnings.append(f"{label}: not a CSV, XLSX, Parquet or ZIP file; ignored")
            continue
        fmt = ext[1:]
        readable = path
        if ext == ".xlsx":
            readable = _xlsx_to_csv(ld, path, label)
            if readable is None:
                continue
        if ext == ".parquet":
            headers = _parquet_headers(ld, path)
        else:
            with open(readable, "rb") as fh:
                headers = _header_of(fh.read(HEAD_BYTES))
        if not headers or not any(headers):
            by_name = recognise.kind_from_name(path.name, crm)
            with open(readable, "rb") as fh:
                blank = not fh.read(HEAD_BYTES).strip(b" \t\r\n\xef\xbb\xbf")
            if blank:
                ld.problem(label, None, None, "the file is empty; expected a header row and records")
                continue
            if by_name is not None:  # unreadable: let the reader say why, under the kind its name gives
                spec = {"kind": by_name, "columns": {}}
        _consider(ld, out, readable, label, crm, fmt, headers, spec)
    for key, spec in mapping.items():
        if key not in seen_mapped:
            ld.problem(next(iter(MAPPING_FILES)), None, None,
                       f"{spec['kind'].label} file of the mapping is not in salesforce/, hubspot/ or the top level "
                       "of the folder; expected it there")
    _expected_contacts(ld, out, folder)
    return out


def _parquet_headers(ld: Loading, path: Path) -> list[str]:
    """The columns of a Parquet file, read on a connection of its own: a broken file must not end the
    load's transaction (Loading.read reports it with its own message)."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"PAR1":
            return []
    probe = duckdb.connect()
    try:
        return [d[0] for d in probe.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]
    except duckdb.Error:
        return []
    finally:
        probe.close()


def _consider(ld: Loading, out: dict, path: Path, label: str, crm: str | None, fmt: str, headers: list[str],
              spec: dict | None, *, in_zip: bool = False) -> None:
    if spec is not None:
        kind = spec["kind"]
        rename = recognise.translate(kind, headers, spec["columns"])
        found = recognise.Recognised(kind, rename, "mapping.yaml")
    else:
        found = recognise.recognise(headers, crm=crm)
    if found is None:
        _unrecognised(ld, label, crm, headers, in_zip=in_zip)
        return
    key = found.kind.key
    if key in out:
        ld.problem(label, None, None, f"both {out[key].label} and {label} are {found.kind.label} exports; "
                                      "expected one file per object (remove or merge one of them)")
        return
    enc = "binary (Parquet)" if fmt == "parquet" else "utf-8 (XLSX)" if fmt == "xlsx" else None
    if enc is None:
        try:
            decoded = encoding.to_utf8(path, ld.scratch())
        except encoding.EncodingProblem as err:
            ld.problem(label, None, None, str(err))
            return
        path, enc = decoded.path, decoded.encoding
    out[key] = ExportFile(found.kind, label, path, found.rename, found.headers, enc, fmt)


def _unrecognised(ld: Loading, label: str, crm: str | None, headers: list[str], *, in_zip: bool) -> None:
    by_name = recognise.kind_from_name(label.rsplit("/", 1)[-1], crm)
    shown = ", ".join(h for h in headers[:12] if h) + (", ..." if len(headers) > 12 else "")
    people = recognise.looks_like_people(headers)
    # settings that did not load may well map a CRM: the file is then a problem too (all problems at once)
    mapped_crms = [c for c in (SF, HS) if ld.settings is None or ld.settings.mapping(c) is not None]
    if by_name is not None:
        need = " and ".join(by_name.required) + (f" and one of {', '.join(by_name.any_of)}" if by_name.any_of else "")
        ld.problem(label, 1, None, f"named like a {by_name.label} export but its header is not one: expected "
                                   f"columns {need} (the file has: {shown or 'no header'}); export it again with "
                                   "the standard fields, or name its columns in mapping.yaml")
    elif people and mapped_crms and not in_zip:
        ld.problem(label, 1, None, f"holds {', '.join(people[:4])} but is not an export this loader recognises: its "
                                   "opt-outs would be lost; expected a Salesforce or HubSpot contacts export, or "
                                   "name its kind and columns in mapping.yaml")
    elif not in_zip:
        kinds = "; ".join(f"{k.label} such as {k.names[0].capitalize() if k.crm == SF else k.names[0]}.csv"
                          for k in recognise.KINDS if crm is None or k.crm == crm)
        ld.warnings.append(f"{label}: not an export this loader reads (recognised by their columns: {kinds}; "
                           f"the file has: {shown}); ignored")


def _zip_members(ld: Loading, path: Path, label: str, crm: str | None, out: dict) -> None:
    """A Salesforce Data Export ZIP, read in place: every CSV inside that is an export kind is used."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        ld.problem(label, None, None, f"cannot open the ZIP file ({err}); expected the ZIP of a Data Export")
        return
    unused = []
    with archive:
        for info in archive.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or not name.lower().endswith(".csv") or info.filename.startswith("__MACOSX"):
                continue
            with archive.open(info) as fh:
                headers = _header_of(fh.read(HEAD_BYTES))
            found = recognise.recognise(headers, crm=crm)
            if found is None:
                if recognise.kind_from_name(name, crm) is not None:
                    _unrecognised(ld, f"{label}/{name}", crm, headers, in_zip=False)
                else:
                    unused.append(name)
                continue
            target = _scratch_file(ld, "zip-")
            with archive.open(info) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            _consider(ld, out, target, f"{label}/{name}", crm, "zip", headers, None, in_zip=True)
    if unused:
        more = f" and {len(unused) - 6} more" if len(unused) > 6 else ""
        ld.warnings.append(f"{label}: {len(unused)} other file(s) not used ({', '.join(unused[:6])}{more})")


def _expected_contacts(ld: Loading, out: dict, folder: Path) -> None:
    """A CRM whose opt-out field the settings map, with exports of that CRM but none with its people: the
    opt-outs would be lost."""
    s = ld.settings
    if s is None:
        return
    people = {SF: ((SF, "Contact"), (SF, "Lead")), HS: ((HS, "contacts"),)}
    for crm, keys in people.items():
        files = [f for k, f in out.items() if k[0] == crm]
        if s.mapping(crm) is None or not files or any(k in out for k in keys):
            continue
        what = "Contact or Lead" if crm == SF else "contacts"
        ld.problem(files[0].label, None, None,
                   f"the settings map {crm}'s opt-out field {s.mapping(crm).field!r} but no {crm} {what} export "
                   f"was found beside {', '.join(f.label for f in files)}: its opt-outs would be lost; expected a "
                   f"{what} export (any file name) in the folder")


def has_contact_exports(exports: dict) -> bool:
    return any(key in exports for key in ((SF, "Contact"), (SF, "Lead"), (HS, "contacts")))


def claimed(ld: Loading) -> set[str]:
    """Top-level file names looked at as exports (the loader says nothing more about those)."""
    return set(getattr(ld, "crm_seen", set()))
