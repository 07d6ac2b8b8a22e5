"""At open: reconcile the audit head file with the chain in the database.

:meth:`calmopsd.record.database.Database.open` calls :func:`reconcile_anchor`
once, on a read snapshot, before anything is appended. It lives apart from
:mod:`.audit` so the store can build on the audit log without the audit log
importing the store back (``audit`` only names ``Database`` in annotations).
"""

from __future__ import annotations

from pathlib import Path

import structlog

from calmopsd.record.audit import GENESIS, read_chain, verify_chain
from calmopsd.record.handle import Handle
from calmopsd.record.head import AuditHead, HeadAnchor, head_path_for, read_head, write_head

log = structlog.get_logger("calmopsd.audit")


def reconcile_anchor(database_path: Path, db: Handle) -> HeadAnchor:
    """Anchor the head, catch it up after a crash, or freeze it if the log was cut.

    ``db`` is a read handle on the database at ``database_path``; the head file
    beside it is read first and written only to anchor an empty chain or to
    catch up a head that lagged behind the last commit.
    """
    path = head_path_for(database_path)
    head = read_head(path)
    verdict = verify_chain(read_chain(db), head)
    last = db.execute("SELECT seq, hash FROM incident_events ORDER BY seq DESC LIMIT 1").fetchone()
    if head is None and last is None:
        # Anchor the empty chain now, so that a crash between the first COMMIT and the
        # first head write looks like a lagging head (caught up below on the next open),
        # never like a deleted head file.
        genesis = AuditHead(0, GENESIS)
        write_head(path, genesis)
        return HeadAnchor(path, genesis)
    if verdict.ok and last is not None and head is not None and head.seq < last[0]:
        # Appended, then stopped before the head file moved: the chain proves the link.
        log.warning("audit.head_caught_up", anchored=head.seq, head=last[0])
        anchor = HeadAnchor(path, head)
        anchor.advance(head.hash, AuditHead(last[0], last[1]))
        anchor.flush()
        return anchor
    if not verdict.ok:
        log.error(
            "audit.chain_broken",
            first_bad_seq=verdict.first_bad_seq,
            reason=verdict.reason,
            path=str(database_path),
        )
        return HeadAnchor(path, head, frozen_reason=verdict.reason)
    settled = head is not None and head.pending is None and not head.unbounded
    return HeadAnchor(path, head, on_file=settled)
