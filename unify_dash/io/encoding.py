"""The text encoding of an export file, detected per file; files not in UTF-8 are transcoded for reading.

CRM exports come in UTF-8 (with or without a BOM), in ISO-8859-1 (Salesforce's Data Export offers it),
in Windows-1252 (a file saved by Excel on Windows) or UTF-16 (Excel's "Unicode text"). DuckDB reads
UTF-8 only, so a file that is not valid UTF-8 as a whole is decoded with the encoding charset-normalizer
finds and written to a temporary UTF-8 copy; the load summary names the encoding it used.

Between single-byte Western code pages that decode a sample equally well, Windows-1252 is preferred
(it is what Excel and Salesforce write; charset-normalizer's first pick can be Central European cp1250,
which turns "João" into "Joăo").
"""

from __future__ import annotations

import codecs
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

CHUNK = 1 << 20
SAMPLE = 1 << 20  # bytes given to the detector
_WESTERN = ("cp1252", "latin_1", "iso8859_15")  # preferred, in this order, among equally good matches
_LATIN_FAMILY = {"cp1250", "cp1252", "cp1257", "cp1258", "latin_1", "iso8859_15", "iso8859_10", "iso8859_2",
                 "iso8859_3", "iso8859_4", "iso8859_9", "iso8859_13", "iso8859_14", "iso8859_16", "mac_roman",
                 "mac_latin2", "hp_roman8", "cp850", "cp858", "cp437"}


@dataclass(frozen=True)
class Decoded:
    """A file ready for DuckDB: ``path`` is UTF-8 (the original or a transcoded copy)."""

    path: Path
    encoding: str  # as shown in the load summary: utf-8, utf-8 (BOM), windows-1252, iso-8859-1, utf-16, ...


class EncodingProblem(Exception):
    """The encoding cannot be told; the message says what to do."""


def _valid_utf8(path: Path) -> int | None:
    """``None`` when the whole file is valid UTF-8, else the offset of the first bad byte."""
    dec = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            try:
                dec.decode(chunk, final=False)
            except UnicodeDecodeError as err:
                return offset + err.start
            offset += len(chunk)
    try:
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset
    return None


def _display(codec: str) -> str:
    name = codecs.lookup(codec).name
    return {"cp1252": "windows-1252", "latin-1": "iso-8859-1", "iso8859-1": "iso-8859-1", "cp1250": "windows-1250",
            "cp1251": "windows-1251", "iso8859-15": "iso-8859-15", "utf-16": "utf-16", "utf-16-le": "utf-16",
            "utf-16-be": "utf-16"}.get(name, name)


def _decodes(path: Path, codec: str) -> bool:
    dec = codecs.getincrementaldecoder(codec)()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                dec.decode(chunk, final=False)
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _candidates(path: Path, bad_at: int) -> list[str]:
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE)
        fh.seek(max(bad_at - SAMPLE // 4, 0))
        around = fh.read(SAMPLE // 2)
    sample = head if bad_at < len(head) else head[: SAMPLE // 2] + b"\n" + around
    matches = list(from_bytes(sample))
    if not matches:
        return []
    best_chaos = min(m.chaos for m in matches)
    best_coherence = max(m.coherence for m in matches if m.chaos == best_chaos)
    good = [m.encoding for m in matches if m.chaos == best_chaos and m.coherence >= best_coherence - 0.05]
    others = [m.encoding for m in matches if m.encoding not in good]
    western = [c for c in _WESTERN if any(codecs.lookup(g).name == codecs.lookup(c).name for g in good)]
    if not western and good and all(g in _LATIN_FAMILY for g in good) and good[0] in ("cp1250", "cp1258"):
        western = ["cp1252"]  # a Western text the detector reads as Central European / Vietnamese
    return western + [g for g in good if g not in western] + others


def to_utf8(path: Path, tmpdir: Path) -> Decoded:
    """Detect the encoding of ``path``; transcode into ``tmpdir`` when it is not UTF-8."""
    with open(path, "rb") as fh:
        start = fh.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _transcode(path, tmpdir, "utf-16")
    bad_at = _valid_utf8(path)
    if bad_at is None:
        return Decoded(path, "utf-8 (BOM)" if start.startswith(codecs.BOM_UTF8) else "utf-8")
    for codec in _candidates(path, bad_at):
        if codecs.lookup(codec).name.startswith("utf"):
            continue
        if _decodes(path, codec):
            return _transcode(path, tmpdir, codec)
    with open(path, "rb") as fh:
        data = fh.read(bad_at + 1)
    line = data.count(b"\n") + 1
    raise EncodingProblem(f"byte 0x{data[bad_at]:02x} on line {line} is not UTF-8 and the file's encoding cannot be "
                          "told; expected UTF-8: save the file as 'CSV UTF-8'")


def _transcode(path: Path, tmpdir: Path, codec: str) -> Decoded:
    fd, name = tempfile.mkstemp(prefix="utf8-", suffix=".csv", dir=tmpdir)
    os.close(fd)
    target = Path(name)
    dec = codecs.getincrementaldecoder(codec)(errors="strict")
    with open(path, "rb") as src, open(target, "w", encoding="utf-8", newline="") as out:
        while chunk := src.read(CHUNK):
            out.write(dec.decode(chunk, final=False))
        out.write(dec.decode(b"", final=True))
    return Decoded(target, _display(codec))
