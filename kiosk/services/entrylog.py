"""The entry log's tamper evidence: sealing, signed checkpoints off the database, retention, verification.

The chain itself lives in :mod:`kiosk.store.eventlog`. This module adds what needs keys, files and the
clock: an Ed25519 key pair (the private key in the instance folder, mode 0600), checkpoints of the chain
head signed with it and written to ``CHECKPOINT_DIR`` (meant to be mounted from another machine), the
daily retention purge (§2.4, PIPL art. 19), and the timer that runs all of it in the server process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from time import monotonic
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select

from kiosk.services.context import ServiceContext
from kiosk.store import eventlog
from kiosk.store.models import Event

logger = logging.getLogger(__name__)

KEY_FILE = "eventlog_signing_key.pem"
CHECKPOINT_FORMAT = "floor-kiosk-checkpoint/1"
_events = Event.__table__


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read (a missing mount, a bad key file)."""


# --- keys --------------------------------------------------------------------------------------------------

def key_path(cfg: dict[str, Any]) -> Path:
    """Where the instance keeps its checkpoint signing key."""
    return Path(cfg["INSTANCE_PATH"]) / KEY_FILE


def signing_key(cfg: dict[str, Any]) -> Ed25519PrivateKey:
    """The instance's Ed25519 private key, created on first use with mode 0600."""
    path = key_path(cfg)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            logger.info("created the event log signing key %s", path)
    if path.stat().st_mode & 0o077:
        logger.warning("%s was readable by others; setting it to mode 0600", path)
        path.chmod(0o600)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} is not an Ed25519 key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    """A public key as PEM (SubjectPublicKeyInfo), the form ``export-key`` writes and ``--public-key`` reads."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def export_key(cfg: dict[str, Any], file: Path) -> str:
    """Write the instance's public key to ``file`` (PEM); return its key id."""
    public = signing_key(cfg).public_key()
    file.write_bytes(public_pem(public))
    return key_id(public)


def load_public_key(file: Path) -> Ed25519PublicKey:
    """Read an exported public key."""
    try:
        key = serialization.load_pem_public_key(file.read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: not a readable PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{file}: not an Ed25519 public key")
    return key


# --- checkpoints -------------------------------------------------------------------------------------------

def checkpoint_dir(cfg: dict[str, Any]) -> Path:
    """``CHECKPOINT_DIR``, or ``checkpoints`` in the instance folder."""
    return Path(cfg.get("CHECKPOINT_DIR") or Path(cfg["INSTANCE_PATH"]) / "checkpoints")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the chain head, as written to one file."""

    path: Path
    seq: int
    hash: str
    rows: int


def _write_atomically(path: Path, body: bytes) -> None:
    """Write a file so a reader sees all of it or nothing, and it survives a power cut."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # a checkpoint is public: auditors on the other machine read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # some network file systems cannot fsync a directory; the file itself is synced


def checkpoint(ctx: ServiceContext) -> Checkpoint:
    """Seal what is pending, then sign the head (seq = rows ever appended, hash) into CHECKPOINT_DIR."""
    eventlog.seal(ctx.engine)
    with ctx.engine.connect() as conn:
        last = eventlog.head(conn)
        seq, digest = last if last else (0, eventlog.GENESIS)
        head_at = conn.execute(select(_events.c.at).where(_events.c.seq == seq)).scalar() if seq else None
        rows = conn.execute(select(func.count()).select_from(_events)
                            .where(_events.c.seq.is_not(None))).scalar_one()
    key = signing_key(ctx.config)
    now = ctx.now()
    payload = {"seq": seq, "hash": digest, "rows": int(rows),
               "head_at": head_at.isoformat() if head_at else None,
               "signed_at": now.astimezone(timezone.utc).isoformat(), "key_id": key_id(key.public_key())}
    body = eventlog.canonical_json(payload).encode()
    doc = {"format": CHECKPOINT_FORMAT, "payload": payload,
           "signature": base64.b64encode(key.sign(body)).decode()}
    folder = checkpoint_dir(ctx.config)
    path = folder / f"checkpoint-{seq:012d}-{now.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    except OSError as exc:
        raise CheckpointError(f"cannot write the checkpoint to {folder}: {exc.strerror or exc}") from None
    logger.info("event log checkpoint: seq %s hash %s… -> %s", seq, digest[:16], path)
    return Checkpoint(path=path, seq=seq, hash=digest, rows=int(rows))


def read_checkpoints(folder: Path, public: Ed25519PublicKey) -> tuple[list[eventlog.CheckpointClaim],
                                                                         list[eventlog.Finding]]:
    """Every checkpoint file in ``folder`` whose signature holds, and a finding for each one that does not."""
    claims: list[eventlog.CheckpointClaim] = []
    bad: list[eventlog.Finding] = []
    for path in sorted(folder.glob("checkpoint-*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            payload = doc["payload"]
            public.verify(base64.b64decode(doc["signature"], validate=True),
                          eventlog.canonical_json(payload).encode())
            head_at = datetime.fromisoformat(payload["head_at"]) if payload.get("head_at") else None
            claims.append(eventlog.CheckpointClaim(name=path.name, seq=int(payload["seq"]),
                                                   hash=str(payload["hash"]), head_at=head_at))
        except InvalidSignature:
            bad.append(eventlog.Finding(None, "forged", f"checkpoint {path.name}: the signature does not verify "
                                        f"with key {key_id(public)}: forged or altered"))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            bad.append(eventlog.Finding(None, "forged", f"checkpoint {path.name} is unreadable "
                                        f"({type(exc).__name__}: {exc}): damaged or forged"))
    return claims, bad


# --- retention ---------------------------------------------------------------------------------------------

def retention_cutoff(ctx: ServiceContext, days: int | None = None) -> datetime | None:
    """Local midnight ``days`` days before today, as UTC: rows dated earlier are past retention (None: keep all)."""
    days = int(ctx.config["LOG_RETENTION_DAYS"] if days is None else days)
    if days <= 0:
        return None
    today = ctx.now().astimezone(ctx.tz).date()
    return datetime.combine(today - timedelta(days=days), time(0), tzinfo=ctx.tz).astimezone(timezone.utc)


def purge(ctx: ServiceContext, *, days: int | None = None, actor: str = "kiosk") -> eventlog.PurgeResult | None:
    """§2.4, PIPL art. 19: remove whole days past retention from the oldest end, log it, checkpoint it."""
    before = retention_cutoff(ctx, days)
    if before is None:
        return None
    eventlog.seal(ctx.engine)
    result = eventlog.purge(ctx.engine, before=before, at=ctx.now(), actor=actor)
    if result is not None:
        logger.info("event log purge: %s rows (seq %s..%s) dated before %s", result.rows, result.first_seq,
                    result.through_seq, before.isoformat())
        checkpoint(ctx)  # the new anchor is signed off the database at once
    return result


# --- verification ------------------------------------------------------------------------------------------

def verify(ctx: ServiceContext, checkpoints: Path | None = None,
           public_key: Path | None = None) -> eventlog.VerifyReport:
    """Seal what is pending, then walk the chain, held against the checkpoints in ``checkpoints`` if given.

    The public key is ``public_key`` (an exported copy kept off the kiosk is the stronger choice: whoever
    can replace the instance's key can sign anything) or the instance's own.
    """
    try:
        eventlog.seal(ctx.engine)
    except Exception as exc:  # a damaged log must still be verified and reported, not sealed
        logger.warning("sealing before verify failed: %s", exc)
    claims: list[eventlog.CheckpointClaim] = []
    bad: list[eventlog.Finding] = []
    if checkpoints is not None:
        if public_key is not None:
            public = load_public_key(public_key)
        elif key_path(ctx.config).exists():
            public = signing_key(ctx.config).public_key()
        else:
            raise CheckpointError(f"no signing key at {key_path(ctx.config)}: pass --public-key FILE")
        claims, bad = read_checkpoints(checkpoints, public)
    report = eventlog.verify(ctx.engine, claims, purged_before=retention_cutoff(ctx))
    report.findings[:0] = bad
    report.checkpoints_checked += len(bad)
    return report


# --- the timer ---------------------------------------------------------------------------------------------

TIMER_SEAL_BATCH = 100  # rows per write transaction when the timer seals: a short hold of SQLite's write lock
SEAL_MAX_DEFER_SECONDS = 5.0  # how long sealing waits for a lull between taps before it goes on regardless


class EntryLogTimer:
    """Run from the server's timer tick: seal every second, checkpoint every N minutes, purge once a day."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.last_checkpoint_at: datetime | None = None
        self.last_checkpoint_head: tuple[int, str] | None = None
        self.last_purge_day: date | None = None
        self.waiting_since: float | None = None  # monotonic: since when unsealed rows have waited for a lull

    def _seal(self) -> None:
        """Seal what waits, batch by batch, each in a lull between taps and door events.

        During a rush the rows wait rather than the people at the glass, at most SEAL_MAX_DEFER_SECONDS;
        after that, each round seals one batch regardless (TIMER_SEAL_BATCH rows a second) and the rest
        still wait for lulls: a rush that never pauses meets one short batch a second, not the whole
        backlog at once.
        """
        priority = self.ctx.priority
        if self.waiting_since is None:
            self.waiting_since = monotonic()
        until = self.waiting_since + SEAL_MAX_DEFER_SECONDS
        forced = False

        def step_aside() -> None:
            nonlocal forced
            if not priority.wait_for_lull(until):
                forced = True
                priority.step_aside()

        while True:
            if eventlog.seal_batch(self.ctx.engine, TIMER_SEAL_BATCH, step_aside) < TIMER_SEAL_BATCH:
                self.waiting_since = None  # all sealed
                return
            if forced:
                return  # the rest waits for a lull, or for the next round

    def tick(self) -> None:
        """One round; a failing step (an unmounted checkpoint directory) is logged and retried next round."""
        ctx = self.ctx
        if eventlog.has_unsealed(ctx.engine):
            self._seal()
        else:
            self.waiting_since = None
        now = ctx.now()
        today = now.astimezone(ctx.tz).date()
        if self.last_purge_day != today:
            self.last_purge_day = today
            try:
                if purge(ctx) is not None:
                    self.last_checkpoint_at = now
            except CheckpointError as exc:
                logger.error("event log purge done but not checkpointed: %s", exc)
        every = timedelta(minutes=float(ctx.config["CHECKPOINT_MINUTES"]))
        if every > timedelta(0) and (self.last_checkpoint_at is None or now - self.last_checkpoint_at >= every):
            with ctx.engine.connect() as conn:
                current = eventlog.head(conn)
            if current == self.last_checkpoint_head and self.last_checkpoint_at is not None:
                self.last_checkpoint_at = now  # nothing new to sign
                return
            try:
                cp = checkpoint(ctx)
            except CheckpointError as exc:
                logger.error("event log checkpoint failed, will retry: %s", exc)
                self.last_checkpoint_at = now - every + timedelta(minutes=1)
                return
            self.last_checkpoint_at, self.last_checkpoint_head = now, (cp.seq, cp.hash) if cp.seq else None
