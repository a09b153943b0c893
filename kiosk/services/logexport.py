"""Exports of the entry log for police and security (§6.7): streamed CSV and XLSX that carry their own proof.

An export is a search's rows in time order, sealed ones only, up to the chain head at the moment the export
began. Every row carries its chain fields (``seq``, ``prev_hash``, ``hash``). After the rows comes a
manifest: the filter, who exported it and when, the chain head (seq = rows ever sealed, and its hash), the
number of rows and a digest of their hashes in file order, signed with the instance's Ed25519 checkpoint
key. ``kiosk log verify --export FILE`` then shows, with nothing but the file (and the exported public key):

* every row's hash matches its content (an edited cell is named by its seq);
* rows with consecutive seqs are chained to each other;
* the rows are exactly the ones signed (none added, removed, reordered or re-hashed: the digest);
* the manifest itself was signed by the kiosk's key (the signature).

CSV: UTF-8 with a byte order mark (Excel opens Chinese text correctly), a header row, the rows, then two
rows ``#export,<manifest JSON>`` and ``#signature,<base64>``. XLSX: sheet ``events`` (header + rows) and
sheet ``export`` (manifest, signature). A text cell that a spreadsheet would run as a formula (it starts
with = + - @, a tab or CR) is written with a leading apostrophe; a cell that starts with an apostrophe gets
one more; a cell with control characters XML cannot hold is written as an apostrophe and a JSON string.
``decode_cell`` undoes exactly that, so hashes are checked against the original text.

Memory stays flat whatever the row count: rows are read in keyset batches and written out in chunks; the
XLSX goes through a temporary file (openpyxl's write-only mode), streamed and then deleted.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, or_, select

from kiosk.services import entrylog, review
from kiosk.services.context import ServiceContext
from kiosk.store import eventlog
from kiosk.store.models import Event

_e = Event.__table__
c = _e.c

FORMAT = "floor-kiosk-log-export/1"
COLUMNS = ("id", "at", "kind", "actor", "subject", "outcome", "reason", "rule", "data", "seq", "prev_hash", "hash")
FORMATS = ("csv", "xlsx")
BATCH = 2000  # rows per keyset query: short read transactions, flat memory
CHUNK = 64 * 1024
_FORMULA = tuple("=+-@\t\r'")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what XML 1.0 (and so XLSX) cannot hold


def encode_cell(value: str) -> str:
    """A text value as written to a cell: never a formula, never a character XLSX refuses (see the module doc)."""
    if _ILLEGAL.search(value):
        return "'" + json.dumps(value)
    if value.startswith(_FORMULA):
        return "'" + value
    return value


def decode_cell(value: Any) -> str:
    """The original text of a cell written by :func:`encode_cell` (an empty XLSX cell reads as None)."""
    if value is None:
        return ""
    text = str(value)
    if not text.startswith("'"):
        return text
    rest = text[1:]
    return json.loads(rest) if rest.startswith('"') else rest


def _at_text(raw: Any) -> str:
    # SQLite hands back SQLAlchemy's own text form; anything else goes the canonical (slower) way.
    if isinstance(raw, str) and len(raw) == 26 and raw[10] == " ":
        return f"{raw[:10]}T{raw[11:]}+00:00"
    return eventlog._iso_utc(raw)  # the chain's own canonical form of ``at``


# --- planning ----------------------------------------------------------------------------------------------

@dataclass
class ExportPlan:
    """An export fixed at its start: the filter's conditions, the chain head it stops at, the row count."""

    filter: review.LogFilter
    filter_text: dict[str, str]
    conditions: list[Any]
    nothing: bool
    through_seq: int
    head_hash: str
    total: int
    by: str
    started_at: datetime
    notes: list[str] = field(default_factory=list)


def plan(ctx: ServiceContext, f: review.LogFilter, by: str) -> ExportPlan:
    """Seal what is pending, fix the head, count the rows the export will hold."""
    eventlog.seal(ctx.engine)
    with ctx.engine.connect() as conn:
        last = eventlog.head(conn)
        through, head_hash = last if last else (0, eventlog.GENESIS)
        scope = review.resolve(conn, f, time_range=False)  # the batches set their own bounds on ``at``
        total = 0
        if not scope.nothing:
            total = int(conn.execute(select(func.count()).select_from(_e)
                                     .where(*scope.conditions, *_range(f.since, f.until), c.seq.is_not(None),
                                            c.seq <= through)).scalar_one())
    return ExportPlan(f, f.describe(ctx.tz), scope.conditions, scope.nothing, through, head_hash, total, by,
                      ctx.now(), scope.notes)


def _range(since: datetime | None, until: datetime | None) -> list[Any]:
    return ([c.at >= since] if since else []) + ([c.at < until] if until else [])


def iter_rows(ctx: ServiceContext, p: ExportPlan, batch: int = BATCH) -> Iterator[tuple[Any, ...]]:
    """The plan's rows in (at, id) order, as the chain stores them, one short query per ``batch`` rows.

    Each batch has one lower bound on ``at`` (the last row's, once past the first batch), so it starts
    where the previous one stopped instead of re-reading from the filter's start.
    """
    if p.nothing:
        return
    base = select(*eventlog.ROW_COLUMNS).where(*p.conditions, c.seq.is_not(None), c.seq <= p.through_seq)
    after: tuple[Any, int] | None = None
    while True:
        if after is None:
            query = base.where(*_range(p.filter.since, p.filter.until))
        else:
            query = base.where(*_range(after[0], p.filter.until), or_(c.at > after[0], c.id > after[1]))
        with ctx.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.at, c.id).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        # ``at`` comes back raw (the chain hashes it as stored); the next batch starts after the last row.
        after = (datetime.fromisoformat(_at_text(rows[-1].at)), rows[-1].id)


def row_values(row: Any) -> list[Any]:
    """One exported row: id and seq as numbers, ``at`` canonical ISO-8601 UTC, text cells encoded."""
    return [row.id, _at_text(row.at), encode_cell(row.kind), encode_cell(row.actor), encode_cell(row.subject),
            encode_cell(row.outcome), encode_cell(row.reason), encode_cell(row.rule), encode_cell(row.data),
            row.seq, row.prev_hash, row.hash]


def manifest(ctx: ServiceContext, p: ExportPlan, rows: int, digest: str) -> tuple[dict[str, Any], str]:
    """The export's manifest and its Ed25519 signature (base64) with the instance's checkpoint key."""
    key = entrylog.signing_key(ctx.config)
    doc = {"format": FORMAT, "exported_at": p.started_at.astimezone(timezone.utc).isoformat(),
           "exported_by": p.by, "filter": p.filter_text, "timezone": ctx.tz.key,
           "head": {"seq": p.through_seq, "hash": p.head_hash}, "rows": rows, "rows_digest": digest,
           "key_id": entrylog.key_id(key.public_key())}
    signature = base64.b64encode(key.sign(eventlog.canonical_json(doc).encode())).decode()
    return doc, signature


# --- writing -----------------------------------------------------------------------------------------------

Progress = Callable[[int], None]


def csv_chunks(ctx: ServiceContext, p: ExportPlan, progress: Progress | None = None) -> Iterator[bytes]:
    """The export as CSV, in chunks of about 64 KiB; ``progress(rows)`` after each chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write("\ufeff")
    writer.writerow(COLUMNS)
    digest = hashlib.sha256()
    n = 0
    for row in iter_rows(ctx, p):
        writer.writerow(row_values(row))
        digest.update(row.hash.encode() + b"\n")
        n += 1
        if buf.tell() >= CHUNK:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
            if progress:
                progress(n)
    doc, signature = manifest(ctx, p, n, digest.hexdigest())
    writer.writerow(["#export", json.dumps(doc, ensure_ascii=False, sort_keys=True)])
    writer.writerow(["#signature", signature])
    yield buf.getvalue().encode("utf-8")
    if progress:
        progress(n)


def write_xlsx(ctx: ServiceContext, p: ExportPlan, path: Path, progress: Progress | None = None) -> int:
    """The export as an XLSX file at ``path`` (openpyxl write-only: rows go to disk as they come)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("events")
    ws.append(list(COLUMNS))
    digest = hashlib.sha256()
    n = 0
    for row in iter_rows(ctx, p):
        ws.append(row_values(row))
        digest.update(row.hash.encode() + b"\n")
        n += 1
        if progress and n % BATCH == 0:
            progress(n)
    doc, signature = manifest(ctx, p, n, digest.hexdigest())
    meta = wb.create_sheet("export")
    meta.append(["format", FORMAT])
    meta.append(["manifest", json.dumps(doc, ensure_ascii=False, sort_keys=True)])
    meta.append(["signature", signature])
    wb.save(path)
    if progress:
        progress(n)
    return n


def xlsx_chunks(ctx: ServiceContext, p: ExportPlan, progress: Progress | None = None) -> Iterator[bytes]:
    """The export as XLSX: written to a temporary file, then streamed from it and deleted."""
    fd, name = tempfile.mkstemp(prefix="kiosk-export-", suffix=".xlsx")
    os.close(fd)
    path = Path(name)
    try:
        write_xlsx(ctx, p, path, progress)
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)


def chunks(ctx: ServiceContext, p: ExportPlan, fmt: str, progress: Progress | None = None) -> Iterator[bytes]:
    """The export in ``fmt`` (csv or xlsx), as a stream of bytes."""
    if fmt == "csv":
        return csv_chunks(ctx, p, progress)
    if fmt == "xlsx":
        return xlsx_chunks(ctx, p, progress)
    raise ValueError(f"unknown export format {fmt!r}")


def filename(p: ExportPlan, fmt: str, tz: Any) -> str:
    """A download name: entry-log-<local time>-seq<head>.<fmt>."""
    return f"entry-log-{p.started_at.astimezone(tz):%Y%m%d-%H%M%S}-seq{p.through_seq}.{fmt}"


# --- verifying ---------------------------------------------------------------------------------------------

@dataclass
class ExportReport:
    """What ``verify_export`` found in a file."""

    rows_checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    manifest: dict[str, Any] | None = None
    signature: str = "missing"  # valid | invalid | not checked | missing
    key_id: str | None = None
    findings: list[eventlog.Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.findings

    @property
    def first_broken(self) -> eventlog.Finding | None:
        """The finding with the lowest seq (file-level findings first)."""
        if not self.findings:
            return None
        return min(self.findings, key=lambda f: -1 if f.seq is None else f.seq)


class ExportUnreadable(ValueError):
    """The file is not an export at all (wrong header, not CSV or XLSX)."""


def _read_csv(path: Path) -> tuple[list[list[str]], dict[str, str]]:
    rows: list[list[str]] = []
    trailer: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise ExportUnreadable(f"{path}: not an entry log export (the header row is not {','.join(COLUMNS)})")
        for rec in reader:
            if rec and rec[0].startswith("#"):
                trailer[rec[0][1:]] = rec[1] if len(rec) > 1 else ""
            elif trailer:
                trailer.setdefault("after", "rows after the manifest")
            elif rec:
                rows.append(rec)
    return rows, trailer


def _read_xlsx(path: Path) -> tuple[list[list[Any]], dict[str, str]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ExportUnreadable(f"{path}: not a readable XLSX file ({type(exc).__name__}: {exc})") from None
    try:
        if "events" not in wb.sheetnames:
            raise ExportUnreadable(f"{path}: no sheet “events”: not an entry log export")
        it = wb["events"].iter_rows(values_only=True)
        header = next(it, None)
        if header is None or tuple(header[:len(COLUMNS)]) != COLUMNS:
            raise ExportUnreadable(f"{path}: not an entry log export (the header row is not {','.join(COLUMNS)})")
        rows = [list(r) for r in it if any(v is not None for v in r)]
        trailer: dict[str, str] = {}
        if "export" in wb.sheetnames:
            for r in wb["export"].iter_rows(values_only=True):
                if r and r[0]:
                    trailer[str(r[0])] = "" if len(r) < 2 or r[1] is None else str(r[1])
        trailer.pop("format", None)
        if "manifest" in trailer:
            trailer["export"] = trailer.pop("manifest")
    finally:
        wb.close()
    return rows, trailer


def verify_export(path: Path, public_key: Ed25519PublicKey | None = None) -> ExportReport:
    """Check an exported file on its own: each row's hash, links between consecutive seqs, the signed manifest."""
    report = ExportReport()
    findings = report.findings
    suffix = path.suffix.lower()
    rows, trailer = _read_xlsx(path) if suffix == ".xlsx" else _read_csv(path)
    digest = hashlib.sha256()
    by_seq: dict[int, tuple[str, str]] = {}  # seq -> (prev_hash, hash)
    for number, rec in enumerate(rows, start=2):
        if len(rec) < len(COLUMNS):
            findings.append(eventlog.Finding(None, "unreadable",
                                             f"line {number}: {len(rec)} cells, not {len(COLUMNS)}"))
            continue
        try:
            row = SimpleNamespace(id=int(rec[0]), at=decode_cell(rec[1]), kind=decode_cell(rec[2]),
                                  actor=decode_cell(rec[3]), subject=decode_cell(rec[4]), outcome=decode_cell(rec[5]),
                                  reason=decode_cell(rec[6]), rule=decode_cell(rec[7]), data=decode_cell(rec[8]))
            seq, prev_hash, digest_hex = int(rec[9]), str(rec[10] or ""), str(rec[11] or "")
        except (ValueError, TypeError) as exc:
            findings.append(eventlog.Finding(None, "unreadable", f"line {number}: {exc}"))
            continue
        report.rows_checked += 1
        report.first_seq = seq if report.first_seq is None else min(report.first_seq, seq)
        report.last_seq = seq if report.last_seq is None else max(report.last_seq, seq)
        digest.update(digest_hex.encode() + b"\n")
        if eventlog.chain_hash(prev_hash, eventlog.canonical_row(row, seq)) != digest_hex:
            findings.append(eventlog.Finding(seq, "edited", f"seq {seq} (event id {row.id}, line {number}): its hash "
                                             f"does not match its content: the row was edited"))
        by_seq[seq] = (prev_hash, digest_hex)
    for seq, (prev_hash, _h) in sorted(by_seq.items()):
        before = by_seq.get(seq - 1)
        if before is not None and before[1] != prev_hash:
            findings.append(eventlog.Finding(seq - 1, "edited", f"seq {seq} is not chained to seq {seq - 1} (its "
                                             f"prev_hash differs): seq {seq - 1} was rewritten with a new hash"))
    _check_manifest(report, trailer, digest.hexdigest(), public_key)
    return report


def _check_manifest(report: ExportReport, trailer: dict[str, str], digest: str,
                    public_key: Ed25519PublicKey | None) -> None:
    findings = report.findings
    if "after" in trailer:
        findings.append(eventlog.Finding(None, "edited", "rows follow the manifest: rows were appended to the file"))
    if "export" not in trailer:
        findings.append(eventlog.Finding(None, "truncated", "no export manifest at the end: the file was cut off "
                                         "(or it is not a complete export)"))
        return
    try:
        doc = json.loads(trailer["export"])
        head = doc["head"]
        rows, signed_digest, through = int(doc["rows"]), str(doc["rows_digest"]), int(head["seq"])
    except (ValueError, KeyError, TypeError) as exc:
        findings.append(eventlog.Finding(None, "forged", f"the export manifest is unreadable ({exc})"))
        return
    report.manifest = doc
    report.key_id = doc.get("key_id")
    if rows != report.rows_checked:
        findings.append(eventlog.Finding(None, "deleted" if rows > report.rows_checked else "edited",
                                         f"the manifest says {rows} rows; the file holds {report.rows_checked}: rows "
                                         f"were {'removed' if rows > report.rows_checked else 'added'}"))
    elif signed_digest != digest:
        findings.append(eventlog.Finding(None, "edited", "the rows' hashes do not match the signed digest: rows were "
                                         "re-hashed, swapped or replaced"))
    if report.last_seq is not None and report.last_seq > through:
        findings.append(eventlog.Finding(report.last_seq, "edited", f"seq {report.last_seq} is after the export's "
                                         f"head (seq {through}): not part of the export"))
    signature = trailer.get("signature", "")
    if not signature:
        report.signature = "missing"
        findings.append(eventlog.Finding(None, "forged", "the manifest is not signed"))
    elif public_key is None:
        report.signature = "not checked"
    else:
        try:
            public_key.verify(base64.b64decode(signature, validate=True), eventlog.canonical_json(doc).encode())
            report.signature = "valid"
        except (InvalidSignature, ValueError):
            report.signature = "invalid"
            findings.append(eventlog.Finding(None, "forged", f"the manifest's signature does not verify with key "
                                             f"{entrylog.key_id(public_key)}: forged or altered"))
