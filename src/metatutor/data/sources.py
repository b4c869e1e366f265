"""Opening a response file: compression (gzip, bz2, xz, zip) undone transparently, the kind of content told
from its first bytes rather than its name, and text decoded with a message that says what went wrong."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from metatutor.errors import InvalidResponsesError, shorten

COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"))
KNOWN = ("CSV/TSV (any of , ; tab |), the DKT/AKT line formats, pyKT CSV, JSON (lines or an array of records), "
         "Parquet, Arrow, .xlsx; each may be compressed with gzip, bz2, xz or zip")


@dataclass(frozen=True)
class Source:
    """A file's bytes once decompressed, and what they are."""

    path: Path
    name: str  # the name of the content: `log.csv.gz` -> `log.csv`; a zip's member name
    data: bytes
    compression: str | None  # gzip, bz2, xz, zip or None
    kind: str  # parquet, arrow, xlsx, xls, json or text


def inner_name(path: Path) -> str:
    """The file name without a compression suffix (`train1.csv.gz` -> `train1.csv`)."""
    name = path.name
    suffix = Path(name).suffix.lower()
    return name[: -len(suffix)] if suffix in COMPRESSIONS else name


def sniff_compression(head: bytes) -> str | None:
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def compression_of(path: Path) -> str | None:
    """gzip, bz2, xz or zip, from the first bytes; None for a plain file (an .xlsx is a zip, but not this)."""
    with open(path, "rb") as f:
        head = f.read(8)
    kind = sniff_compression(head)
    if kind == "zip" and _is_workbook(path):
        return None
    return kind


def _is_workbook(path_or_bytes: Path | bytes) -> bool:
    try:
        with zipfile.ZipFile(path_or_bytes if isinstance(path_or_bytes, Path) else io.BytesIO(path_or_bytes)) as z:
            names = z.namelist()
    except zipfile.BadZipFile:
        return False
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)


def _zip_member(z: zipfile.ZipFile, source: str) -> zipfile.ZipInfo:
    files = [i for i in z.infolist() if not i.is_dir() and not i.filename.startswith(("__MACOSX/", "."))]
    if len(files) != 1:
        listed = ", ".join(shorten(i.filename, 30) for i in files[:4]) + (", …" if len(files) > 4 else "")
        raise InvalidResponsesError(
            [f"a zip archive must hold exactly one response file; this one holds {len(files)} ({listed or 'none'}): "
             "unzip it and read the file (or the folder) itself"], source=source)
    return files[0]


def open_binary(path: Path) -> tuple[BinaryIO, str]:
    """A readable stream of the decompressed content and its name (for chunked reading)."""
    kind = compression_of(path)
    if kind == "gzip":
        return cast(BinaryIO, gzip.open(path, "rb")), inner_name(path)
    if kind == "bz2":
        return cast(BinaryIO, bz2.open(path, "rb")), inner_name(path)
    if kind == "xz":
        return cast(BinaryIO, lzma.open(path, "rb")), inner_name(path)
    if kind == "zip":
        z = zipfile.ZipFile(path)
        member = _zip_member(z, str(path))
        return cast(BinaryIO, z.open(member)), Path(member.filename).name
    return open(path, "rb"), path.name


def open_source(path: Path) -> Source:
    """Read and decompress a file, and tell what it holds."""
    raw = path.read_bytes()
    if not raw.strip():
        raise InvalidResponsesError(["the file is empty"], source=str(path))
    compression = sniff_compression(raw[:8])
    name = inner_name(path)
    if compression == "zip" and _is_workbook(raw):
        compression = None
    try:
        if compression == "gzip":
            raw = gzip.decompress(raw)
        elif compression == "bz2":
            raw = bz2.decompress(raw)
        elif compression == "xz":
            raw = lzma.decompress(raw)
        elif compression == "zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                member = _zip_member(z, str(path))
                raw, name = z.read(member), Path(member.filename).name
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise InvalidResponsesError([f"a damaged {compression} file: {shorten(exc, 80)}"], source=str(path)) from None
    if compression and not raw.strip():
        raise InvalidResponsesError([f"the {compression} file holds nothing"], source=str(path))
    return Source(path, name, raw, compression, _kind(raw, name))


def _kind(raw: bytes, name: str) -> str:
    if raw.startswith(b"PAR1"):
        return "parquet"
    if raw.startswith(b"ARROW1"):
        return "arrow"
    if raw.startswith(b"PK\x03\x04") and _is_workbook(raw):
        return "xlsx"
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    head = raw[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"  # UTF-16 text
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{"):
        return "json"
    return "text"


def decode_text(source: Source, *, encoding: str | None = None) -> str:
    """The text of a text file: UTF-8 (with or without BOM) or UTF-16 by its BOM, unless told the encoding."""
    raw, where = source.data, str(source.path)
    if encoding:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InvalidResponsesError([f"cannot decode as {encoding}: {shorten(exc, 80)}"], source=where) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    head = raw[:4096]
    if b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head) > len(head) // 20:
        raise InvalidResponsesError(
            [f"not a text file, nor a format metatutor knows (it starts with bytes {head[:8].hex(' ')}); "
             f"metatutor reads {KNOWN}"], source=where)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidResponsesError(
            [f"the text is not UTF-8 (first bad byte on line {line}); "
             "pass the encoding explicitly (for example --encoding latin-1)"],
            source=where,
        ) from None


def detect_format(text: str, *, name: str = "") -> str:
    """Guess the format of a text file from its first lines."""
    lines = [ln.strip() for ln in text.splitlines()[:64]]
    first = lines[0].lower() if lines else ""
    if first.replace(" ", "").startswith(("fold,uid", "uid,")) or ("uid" in first and "responses" in first):
        return "pykt"
    nonempty = [ln for ln in lines if ln]
    for n in (4, 3) if "_pid" in name.lower() else (3, 4):
        if _looks_like_lines(nonempty, n):
            return f"lines{n}"
    head = split_fields(nonempty[0]) if nonempty else []
    second = split_fields(nonempty[1]) if len(nonempty) > 1 else []
    if 1 <= len(head) <= 2 and _is_number(head[0]) and second and all(_is_number(f) for f in second):
        return "lines4" if "_pid" in name.lower() else "lines3"  # a damaged line file: let its parser say why
    return "long"


def _looks_like_lines(lines: list[str], n: int) -> bool:
    groups = [lines[i : i + n] for i in range(0, len(lines) - n + 1, n)]
    if not groups:
        return False
    for g in groups:
        fields = [split_fields(x) for x in g]
        if len(fields[0]) > 2 or any(len(f) != len(fields[1]) for f in fields[1:]):
            return False
        if not set(fields[-1]) <= {"0", "1"}:
            return False
    return True


def split_fields(line: str) -> list[str]:
    return [f.strip() for f in line.strip().rstrip(",").split(",")] if line.strip() else []


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
