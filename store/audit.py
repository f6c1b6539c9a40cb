"""The audit log: who did what, when, and the ids it touched."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from store.models import AuditLog


def record(
    *,
    session: Session,
    org_id: uuid.UUID,
    actor: str,
    action: str,
    entity: str,
    entity_ids: Sequence[Any] = (),
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry in the caller's transaction."""
    session.add(
        AuditLog(
            org_id=org_id,
            actor=actor,
            action=action,
            entity=entity,
            entity_ids=list(entity_ids),
            details=details or {},
        )
    )
