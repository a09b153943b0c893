"""The event log: written with one lean Core insert, chained afterwards by a single sealer, verified end to end.

Writers (every service, inside its own transaction, on hot paths such as a badge tap) only INSERT rows
*unsealed*: ``seq``, ``prev_hash`` and ``hash`` are NULL. One sealer at a time (serialised by SQLite's
write lock, or a PostgreSQL advisory lock) then gives the unsealed rows it can see, in id order, the next
chain positions::

    hash(n) = SHA-256( hash(n-1) as 64 hex characters  ‖  canonical JSON of row n )

where the canonical JSON holds id, at (ISO-8601 UTC, microseconds), kind, actor, subject, outcome, reason,
rule, data and seq -- never the hash itself -- and hash(0) is 64 zeros. Chain order is ``seq`` order, not
id order: on PostgreSQL a transaction holding a lower id may commit after a higher id was sealed, and
that row simply gets a later ``seq``. Database triggers (migration 0005) refuse every UPDATE but sealing
and every DELETE but the retention purge, which runs under the sealer's lock, logs itself as a
``log_purged`` row holding the seq and hash of the last row it removed, and so leaves an anchor that
:func:`verify` restarts the chain from.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import Connection, Engine, String, bindparam, delete, func, insert, select, text, type_coerce, update
from sqlalchemy.exc import SQLAlchemyError

from kiosk.store.db import write_transaction
from kiosk.store.lean import Prepared
from kiosk.store.models import Event, EventLogPurge

_events = Event.__table__
_purge = EventLogPurge.__table__
_INSERT = insert(_events)  # built once: the log is written on every tap
_INSERT_ONE = Prepared(_INSERT, keys=("at", "kind", "actor", "subject", "outcome", "reason", "rule", "data"))

GENESIS = "0" * 64
PURGE_KIND = "log_purged"
# Any constant will do; it only has to be the same in every process sealing one PostgreSQL database.
ADVISORY_LOCK_KEY = 0x6B696F73_6B6C6F67  # "kiosklog" in ASCII; fits a signed bigint
STEP_ROWS = 4  # rows hashed between two calls of a sealer's step_aside (a few hundred microseconds)
SEAL_BATCH = 1000  # rows per sealing transaction: keeps SQLite's write lock short for the writers waiting

_c = _events.c
# The columns the chain covers, plus the chain's own. ``at`` is read raw (text on SQLite, a datetime on
# PostgreSQL) so a mangled value is hashed and reported, not a traceback.
ROW_COLUMNS = (_c.id, type_coerce(_c.at, String).label("at"), _c.kind, _c.actor, _c.subject, _c.outcome,
               _c.reason, _c.rule, _c.data, _c.seq, _c.prev_hash, _c.hash)
_SEAL = (update(_events).where(_c.id == bindparam("_id"), _c.seq.is_(None))
         .values(seq=bindparam("_seq"), prev_hash=bindparam("_prev"), hash=bindparam("_hash")))
_SEAL_LEAN = Prepared(_SEAL)  # plain numbers and text: Core's per-row processing was half a seal's cost


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(data: dict[str, Any]) -> str:
    """JSON with sorted keys and no spaces, so the same facts always give the same text.

    One encoder made once: ``json.dumps`` with these options builds a new one on every call.
    """
    return _CANONICAL.encode(data)


def log_event(conn: Connection, *, at: datetime, kind: str, actor: str = "", subject: str = "",
              outcome: str = "", reason: str = "", rule: str = "", data: dict[str, Any] | None = None) -> None:
    """Append one row to the event log in the caller's transaction (unsealed; the sealer chains it)."""
    row = {"at": at, "kind": kind, "actor": actor, "subject": subject, "outcome": outcome,
           "reason": reason[:200], "rule": rule, "data": canonical_json(data or {})}
    if isinstance(conn, Connection):
        _INSERT_ONE.run(conn, row)  # every tap and door event writes one: straight on the driver
    else:
        conn.execute(_INSERT, row)


def log_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Append many rows in one statement (a batch of sensor changes); same fields as :func:`log_event`."""
    if not rows:
        return
    full = [{"actor": "", "subject": "", "outcome": "", "rule": "", **r,
             "reason": r.get("reason", "")[:200], "data": canonical_json(r.get("data") or {})} for r in rows]
    if isinstance(conn, Connection):
        _INSERT_ONE.run_many(conn, full)
    else:
        conn.execute(_INSERT, full)


# --- the chain -------------------------------------------------------------------------------------------

def _iso_utc(value: Any) -> str:
    """``at`` as ISO-8601 UTC with microseconds, whichever engine stored it; anything else, tagged as found."""
    dt = value
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return f"unparsed:{value!r}"
        if dt.tzinfo is None and len(value) == 26 and value[4:20:3] == "-- ::.":
            # What SQLite holds ("2026-11-29 07:19:00.123456", UTC): the text the long way below gives.
            return f"{value[:10]}T{value[11:]}+00:00"
    if not isinstance(dt, datetime):
        return f"unparsed:{value!r}"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def canonical_row(row: Any, seq: int, row_id: Any = None) -> str:
    """The canonical JSON of one row at chain position ``seq``: what its hash covers (not the hash)."""
    return canonical_json({"id": row.id if row_id is None else row_id, "at": _iso_utc(row.at), "kind": row.kind,
                           "actor": row.actor, "subject": row.subject, "outcome": row.outcome,
                           "reason": row.reason, "rule": row.rule, "data": row.data, "seq": seq})


def chain_hash(prev_hash: Any, row_json: str) -> str:
    """SHA-256 over the previous hash (hex) followed by the row's canonical JSON, as hex."""
    return hashlib.sha256((str(prev_hash) + row_json).encode("utf-8", "surrogatepass")).hexdigest()


@contextmanager
def sealing_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that holds the sealer's lock: only one sealer (or purge) per database at a time."""
    # SQLite: BEGIN IMMEDIATE takes the write lock before our read of the head, so two processes cannot both
    # continue one head. PostgreSQL: an advisory lock held until the transaction ends.
    with write_transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        yield conn


_HEAD = select(_c.seq, _c.hash, _c.id).where(_c.seq.is_not(None)).order_by(_c.seq.desc()).limit(1)


def head(conn: Connection) -> tuple[int, str] | None:
    """The last sealed row's (seq, hash), or None for a log with no sealed row."""
    row = conn.execute(_HEAD).first()
    return (int(row.seq), str(row.hash)) if row else None


def unsealed_rows(conn: Connection, limit: int) -> tuple[tuple[int, str] | None, Sequence[Any]]:
    """The head, and the first ``limit`` unsealed rows in id order (:data:`ROW_COLUMNS`).

    SQLite keeps no index of unsealed rows (migration 0013): it hands out ids in commit order and rows are
    sealed in id order, so every unsealed row lies above the head's id, where the primary key finds it.
    PostgreSQL can commit a lower id after a higher one was sealed; its partial index finds that row.
    """
    row = conn.execute(_HEAD).first()
    query = select(*ROW_COLUMNS).where(_c.seq.is_(None))
    if row is not None and conn.dialect.name == "sqlite":
        query = query.where(_c.id > row.id)
    rows = conn.execute(query.order_by(_c.id).limit(limit)).all()
    return ((int(row.seq), str(row.hash)) if row else None), rows


def seal_pending(conn: Connection, limit: int = SEAL_BATCH) -> int:
    """Chain up to ``limit`` unsealed rows, in id order, after the head. Call under :func:`sealing_transaction`."""
    last, rows = unsealed_rows(conn, limit)
    params = _chain(last, rows)
    if params:
        _SEAL_LEAN.run_many(conn, params)
    return len(params)


def _chain(last: tuple[int, str] | None, rows: Sequence[Any],
           step_aside: Callable[[], object] | None = None) -> list[dict[str, Any]]:
    """The chain positions of ``rows`` after the head ``last``: the UPDATE parameters that seal them."""
    seq, prev = last if last else (0, GENESIS)
    params = []
    for i, row in enumerate(rows):
        if step_aside is not None and i % STEP_ROWS == 0:
            step_aside()
        seq += 1
        digest = chain_hash(prev, canonical_row(row, seq))
        params.append({"_id": row.id, "_seq": seq, "_prev": prev, "_hash": digest})
        prev = digest
    return params


def has_unsealed(engine: Engine) -> bool:
    """Whether any row waits for the sealer (two index lookups; takes no lock)."""
    with engine.connect() as conn:
        return bool(unsealed_rows(conn, 1)[1])


def seal(engine: Engine, batch: int = SEAL_BATCH, step_aside: Callable[[], object] | None = None) -> int:
    """Seal every row visible now, one short transaction per batch; return how many were sealed.

    ``step_aside``, when given, is called every few rows and before each batch's write: the server's
    timer passes one that waits while a badge tap or door event is being handled.
    """
    total = 0
    while True:
        n = seal_batch(engine, batch, step_aside)
        total += n
        if n < batch:
            return total


def seal_batch(engine: Engine, batch: int, step_aside: Callable[[], object] | None = None) -> int:
    """Seal up to ``batch`` rows, hashing them BEFORE taking the write lock.

    Hashing is most of a seal's work; done under the lock it kept every writer (a badge tap, a door
    event) waiting for it. The head is read again under the lock: if another sealer moved it meanwhile,
    this batch is chained afresh there, so the chain stays one line whoever seals.
    """
    with engine.connect() as conn:
        last, rows = unsealed_rows(conn, batch)
    if not rows:
        return 0
    params = _chain(last, rows, step_aside)
    if step_aside is not None:
        step_aside()
    with sealing_transaction(engine) as conn:
        if head(conn) != last:
            return seal_pending(conn, batch)
        _SEAL_LEAN.run_many(conn, params)
    return len(params)


# --- retention ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed and the anchor the chain now restarts from."""

    rows: int
    first_seq: int
    through_seq: int
    through_hash: str
    before: datetime
    logged_seq: int


def purge(engine: Engine, *, before: datetime, at: datetime, actor: str = "kiosk") -> PurgeResult | None:
    """§2.4, PIPL art. 19: delete the oldest sealed rows, all dated before ``before``, and log the purge.

    Only a prefix of the chain goes: it stops at the first row dated ``before`` or later, so no row younger
    than the retention period is ever removed (a stray late row keeps the ones after it a day longer).
    The purge row, sealed in the same transaction, records the count and the seq and hash of the last row
    removed: the anchor :func:`verify` restarts from. The delete trigger lets rows go only while a
    ``event_log_purge`` marker covers them; the marker is inserted and removed inside this transaction.
    """
    with sealing_transaction(engine) as conn:
        while seal_pending(conn) == SEAL_BATCH:
            pass
        first = conn.execute(select(func.min(_c.seq)).where(_c.seq.is_not(None))).scalar()
        if first is None:
            return None
        young = conn.execute(select(_c.seq).where(_c.seq.is_not(None), _c.at >= before)
                             .order_by(_c.seq).limit(1)).scalar()
        last = head(conn)
        assert last is not None
        through = int(young) - 1 if young is not None else last[0]
        if through < first:
            return None
        through_hash = conn.execute(select(_c.hash).where(_c.seq == through)).scalar_one()
        rows = conn.execute(select(func.count()).select_from(_events)
                            .where(_c.seq.is_not(None), _c.seq <= through)).scalar_one()
        log_event(conn, at=at, kind=PURGE_KIND, actor=actor, subject=f"seq {first}..{through}", outcome="ok",
                  reason=f"retention: rows dated before {before.astimezone(timezone.utc).isoformat()}",
                  rule="§2.4", data={"rows": rows, "first_seq": first, "through_seq": through,
                                     "through_hash": through_hash,
                                     "before": before.astimezone(timezone.utc).isoformat()})
        seal_pending(conn)  # the purge row joins the chain now, after ``through``: never purged by itself
        logged = head(conn)
        assert logged is not None
        conn.execute(insert(_purge), {"through_seq": through})
        conn.execute(delete(_events).where(_c.seq.is_not(None), _c.seq <= through))
        conn.execute(delete(_purge))
    return PurgeResult(rows=int(rows), first_seq=int(first), through_seq=through, through_hash=str(through_hash),
                       before=before, logged_seq=logged[0])


# --- verification ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckpointClaim:
    """A checkpoint whose signature has been checked: the chain had ``hash`` at ``seq``."""

    name: str
    seq: int
    hash: str
    head_at: datetime | None


@dataclass(frozen=True)
class Finding:
    """One way the log is broken: ``problem`` is edited, deleted, reordered, truncated, rewritten, forged or unreadable."""

    seq: int | None
    problem: str
    message: str


@dataclass
class VerifyReport:
    """What :func:`verify` found: rows checked, the retained range, the anchor and every finding."""

    rows_checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    anchor: tuple[int, str] | None = None  # (seq, hash) of the last purged row; None: the chain starts at seq 1
    unsealed: int = 0
    checkpoints_checked: int = 0
    checkpoints_purged: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.findings

    @property
    def first_broken(self) -> Finding | None:
        """The finding with the lowest seq (those without a seq, such as an unreadable table, come first)."""
        if not self.findings:
            return None
        return min(self.findings, key=lambda f: -1 if f.seq is None else f.seq)


def _find_anchor(conn: Connection, through_seq: int) -> str | None:
    """The through_hash of the sealed purge row that says it removed rows up to ``through_seq``."""
    for (data,) in conn.execute(select(_c.data).where(_c.kind == PURGE_KIND, _c.seq.is_not(None))):
        try:
            doc = json.loads(data)
            if int(doc["through_seq"]) == through_seq:
                return str(doc["through_hash"])
        except (ValueError, TypeError, KeyError):
            continue  # a mangled purge row is reported by the walk, as an edited row
    return None


def _swapped_with(row: Any, window: Sequence[Any]) -> int | None:
    """The seq of a later row whose chain slot this row's content fits: the two were swapped."""
    for other in window:
        if not isinstance(other.seq, int):
            continue
        for row_id in (other.id, row.id):
            if chain_hash(other.prev_hash, canonical_row(row, other.seq, row_id)) == other.hash:
                return int(other.seq)
    return None


def verify(engine: Engine, claims: Sequence[CheckpointClaim] = (), *,
           purged_before: datetime | None = None, batch: int = 5000, max_findings: int = 50) -> VerifyReport:
    """Walk the chain in seq order from its start or its purge anchor, and hold it against checkpoints.

    A checkpoint whose seq was purged can only be legitimate if its head row was dated before
    ``purged_before`` (now minus the retention period): a purge never removes a younger row.
    Never raises on a damaged database: an unreadable table is reported as a finding.
    """
    report = VerifyReport()
    try:
        _walk(engine, report, claims, purged_before, batch, max_findings)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        report.findings.append(Finding(None, "unreadable", f"the event log cannot be read: {reason}"))
    return report


def _walk(engine: Engine, report: VerifyReport, claims: Sequence[CheckpointClaim],
          purged_before: datetime | None, batch: int, max_findings: int) -> None:
    findings = report.findings
    by_seq: dict[int, list[CheckpointClaim]] = {}
    for claim in claims:
        by_seq.setdefault(claim.seq, []).append(claim)
    matched: list[int] = []  # checkpoint seqs that agree with the log

    def claim_at(seq: int, digest: str | None) -> None:
        for claim in by_seq.get(seq, []):
            report.checkpoints_checked += 1
            if claim.hash == digest:
                matched.append(seq)
            else:
                since = max([s for s in matched if s < seq], default=(report.first_seq or 1) - 1) + 1
                findings.append(Finding(since, "rewritten",
                                        f"checkpoint {claim.name} signed hash {claim.hash[:16]}… at seq {seq}; "
                                        f"the log has {str(digest)[:16]}…: the chain was rewritten somewhere "
                                        f"in seq {since}..{seq}"))

    with engine.connect() as conn:
        report.unsealed = int(conn.execute(select(func.count()).select_from(_events)
                                           .where(_c.seq.is_(None))).scalar_one())
        expected_seq: int | None = None
        prev: Any = None
        swapped: set[int] = set()
        after: Any = None
        while True:
            query = select(*ROW_COLUMNS).where(_c.seq.is_not(None)).order_by(_c.seq).limit(batch)
            if after is not None:
                query = query.where(_c.seq > after)
            rows = conn.execute(query).all()
            more = len(rows) == batch
            for i, row in enumerate(rows):
                if not isinstance(row.seq, int) or isinstance(row.seq, bool):
                    # SQLite keeps whatever it is given; text sorts after every number, so this is the end.
                    findings.append(Finding(expected_seq, "unreadable",
                                            f"event id {row.id} has seq {row.seq!r}, not a number: edited"))
                    more = False
                    continue
                seq = after = row.seq
                report.rows_checked += 1
                if expected_seq is None:  # the first retained row: seq 1, or just after a purge anchor
                    report.first_seq = seq
                    if seq == 1:
                        prev = GENESIS
                    else:
                        anchor_hash = _find_anchor(conn, seq - 1)
                        if anchor_hash is None:
                            findings.append(Finding(1, "deleted", f"seq 1..{seq - 1} are missing and no "
                                                    f"{PURGE_KIND} row accounts for them: rows deleted at the start"))
                            prev = row.prev_hash
                        else:
                            report.anchor = (seq - 1, anchor_hash)
                            prev = anchor_hash
                elif seq != expected_seq:
                    findings.append(Finding(expected_seq, "deleted",
                                            f"seq {expected_seq}" + (f"..{seq - 1}" if seq - 1 > expected_seq else "")
                                            + " missing: row(s) deleted"))
                    prev = row.prev_hash  # report the gap once, then carry on from what is there
                if seq in swapped:
                    pass  # already reported with the row it was swapped with
                elif row.prev_hash != prev:
                    findings.append(Finding(seq, "reordered", f"seq {seq} (event id {row.id}) is not chained to "
                                            f"the row before it (its prev_hash differs): rows reordered"))
                elif chain_hash(row.prev_hash, canonical_row(row, seq)) != row.hash:
                    partner = _swapped_with(row, rows[i + 1:i + 65])
                    if partner is not None:
                        swapped.add(partner)
                        findings.append(Finding(seq, "reordered", f"the contents of seq {seq} and seq {partner} "
                                                f"are swapped: rows reordered"))
                    else:
                        findings.append(Finding(seq, "edited", f"seq {seq} (event id {row.id}): its hash does "
                                                f"not match its content: the row was edited"))
                claim_at(seq, row.hash)
                prev = row.hash
                expected_seq = seq + 1
                report.last_seq, report.last_hash = seq, row.hash
                if len(findings) >= max_findings:
                    return
            if not more:
                break

    last = report.last_seq or 0
    lowest = report.first_seq or 1
    anchor_seq, anchor_hash = report.anchor if report.anchor else (None, None)
    for seq, seq_claims in sorted(by_seq.items()):
        if seq > last:
            for claim in seq_claims:
                report.checkpoints_checked += 1
                findings.append(Finding(last + 1, "truncated",
                                        f"checkpoint {claim.name} says the log reached seq {seq}; it ends at "
                                        f"seq {last}: the tail was cut off (seq {last + 1}..{seq} missing)"))
        elif seq == 0:  # a checkpoint of the empty log says nothing a later one does not
            report.checkpoints_checked += len(seq_claims)
        elif seq < lowest:  # purged rows: a legitimate purge removed only rows dated before the cutoff
            for claim in seq_claims:
                report.checkpoints_checked += 1
                if seq == anchor_seq and claim.hash != anchor_hash:
                    findings.append(Finding(seq, "rewritten",
                                            f"checkpoint {claim.name} signed hash {claim.hash[:16]}… at seq {seq}; "
                                            f"the purge anchor says {str(anchor_hash)[:16]}…: the chain was "
                                            f"rewritten"))
                elif purged_before is not None and claim.head_at is not None and claim.head_at < purged_before:
                    report.checkpoints_purged += 1
                else:
                    findings.append(Finding(seq, "deleted",
                                            f"checkpoint {claim.name} covers seq {seq}, dated "
                                            f"{claim.head_at.isoformat() if claim.head_at else '?'}, inside the "
                                            f"retention period, but the log now starts at seq {lowest}: rows were "
                                            f"removed before their time, or the chain was rewritten"))
