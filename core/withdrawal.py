"""A dossier withdrawn at its origin (`kho dossier withdraw`): its documents become
`withdrawn` (out of search, never indexed again), its rows and files stay, and the dossier
says when, by whom and why. A withdrawn dossier is not edited and not exported again; the
next `kho transfer export --since-last` sends its tombstone to each peer that had it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import UsageError
from .hierarchy import dossier_label
from .models import WITHDRAWN, Document, Dossier, RecordOrigin, now


def refuse_withdrawn(d: Dossier) -> None:
    """A withdrawn dossier is kept as it was: any change to it is refused."""
    if d.withdrawn_at is not None:
        raise UsageError(
            f"dossier {dossier_label(d)} was withdrawn on {d.withdrawn_at:%Y-%m-%d} by "
            f"{d.withdrawn_by}: it is kept as it was and cannot be changed"
        )


class WithdrawalQueries:
    """Mixed into `Catalog`."""

    def session(self, *, write: bool = False): ...  # from Catalog

    def append_audit(self, s: Session, actor: str, action: str, detail: dict) -> None: ...

    def withdraw_dossier(self, d_id: int, reason: str, actor: str, door: dict) -> list[str]:
        """Withdraw the dossier made here (audited with the reason); returns its documents,
        which leave the index."""
        reason = reason.strip()
        if not reason:
            raise UsageError("say why the dossier is withdrawn: --reason TEXT")
        with self.session(write=True) as s:
            d = s.get(Dossier, d_id)
            refuse_withdrawn(d)
            origin = s.scalars(select(RecordOrigin).where(RecordOrigin.dossier_id == d.id)).first()
            if origin is not None:
                raise UsageError(
                    f"dossier {dossier_label(d)} came from {origin.origin_node}: only the "
                    "archive that made it withdraws it"
                )
            d.withdrawn_at, d.withdrawn_by, d.withdrawn_reason = now(), actor, reason
            docs = list(s.scalars(select(Document).where(Document.dossier_id == d.id)))
            for doc in docs:
                doc.status = WITHDRAWN
            ids = [doc.id for doc in docs]
            detail = {**door, "dossier": dossier_label(d), "reason": reason, "documents": ids}
            self.append_audit(s, actor, "archive-withdraw", detail)
            return ids
