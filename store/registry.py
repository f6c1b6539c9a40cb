"""The model registry: versions of trained models per kind and organisation.

Each version keeps its training-data fingerprint, metrics and artifact. Exactly one
version per kind is active (a partial unique index enforces it); promoting retires the
active one, and rolling back re-activates the version that was active before.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from store import audit
from store.models import ModelVersion


def register(
    *,
    session: Session,
    org_id: uuid.UUID,
    kind: str,
    artifact: bytes,
    artifact_format: str,
    data_fingerprint: str,
    training_rows: int,
    training_seconds: float,
    params: dict[str, Any],
    metrics: dict[str, Any],
    actor: str,
    activate: bool = True,
) -> ModelVersion:
    """Store a trained model as the next version of ``kind``; activate it unless told not."""
    # Serialise concurrent registrations of one kind: the version number must not repeat.
    session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(f"model_versions:{org_id}:{kind}")))
    )
    latest = session.scalar(
        select(func.max(ModelVersion.version)).where(
            ModelVersion.org_id == org_id, ModelVersion.kind == kind
        )
    )
    row = ModelVersion(
        org_id=org_id,
        kind=kind,
        version=(latest or 0) + 1,
        data_fingerprint=data_fingerprint,
        training_rows=training_rows,
        training_seconds=training_seconds,
        params=params,
        metrics=metrics,
        artifact_format=artifact_format,
        artifact=artifact,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="model.register",
        entity="model_version",
        entity_ids=[row.id],
        details={"kind": kind, "version": row.version, "rows": training_rows},
    )
    if activate:
        promote(session=session, org_id=org_id, kind=kind, version=row.version, actor=actor)
    return row


def active(*, session: Session, org_id: uuid.UUID, kind: str) -> ModelVersion | None:
    """Return the active version of ``kind``, if any."""
    return session.scalar(
        select(ModelVersion).where(
            ModelVersion.org_id == org_id,
            ModelVersion.kind == kind,
            ModelVersion.status == "active",
        )
    )


def active_key(*, session: Session, org_id: uuid.UUID, kind: str) -> tuple[int, int] | None:
    """Return (row id, version) of the active version of ``kind``, without its artifact.

    Row ids are never reused and artifacts never rewritten, so the id names the artifact.
    """
    row = session.execute(
        select(ModelVersion.id, ModelVersion.version).where(
            ModelVersion.org_id == org_id,
            ModelVersion.kind == kind,
            ModelVersion.status == "active",
        )
    ).first()
    return (int(row.id), int(row.version)) if row is not None else None


def artifact(*, session: Session, org_id: uuid.UUID, model_id: int) -> bytes:
    """Return the artifact of one version by row id, or raise NotFoundError."""
    data = session.scalar(
        select(ModelVersion.artifact).where(
            ModelVersion.org_id == org_id, ModelVersion.id == model_id
        )
    )
    if data is None:
        raise NotFoundError(f"no model version with id {model_id}")
    return bytes(data)


def get(*, session: Session, org_id: uuid.UUID, kind: str, version: int) -> ModelVersion:
    """Return one version, or raise NotFoundError."""
    row = session.scalar(
        select(ModelVersion).where(
            ModelVersion.org_id == org_id,
            ModelVersion.kind == kind,
            ModelVersion.version == version,
        )
    )
    if row is None:
        raise NotFoundError(f"no {kind} model version {version}")
    return row


def versions(*, session: Session, org_id: uuid.UUID, kind: str | None = None) -> list[ModelVersion]:
    """All versions, newest first (the artifact column is deferred: loaded on access)."""
    query = select(ModelVersion).where(ModelVersion.org_id == org_id)
    if kind:
        query = query.where(ModelVersion.kind == kind)
    return list(session.scalars(query.order_by(ModelVersion.kind, ModelVersion.version.desc())))


def promote(
    *, session: Session, org_id: uuid.UUID, kind: str, version: int, actor: str
) -> ModelVersion:
    """Make ``version`` the active one; the previously active version is retired."""
    target = get(session=session, org_id=org_id, kind=kind, version=version)
    if target.status == "active":
        return target
    current = active(session=session, org_id=org_id, kind=kind)
    if current is not None:
        current.status = "retired"
        session.flush()  # the one-active index must never see two
    target.status = "active"
    target.promoted_at = dt.datetime.now(dt.UTC)
    target.replaces_version = current.version if current is not None else None
    session.flush()
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="model.promote",
        entity="model_version",
        entity_ids=[target.id],
        details={"kind": kind, "version": version},
    )
    return target


def rollback(*, session: Session, org_id: uuid.UUID, kind: str, actor: str) -> ModelVersion:
    """Re-activate the version that was active before the current one."""
    current = active(session=session, org_id=org_id, kind=kind)
    if current is None:
        raise NotFoundError(f"no active {kind} model to roll back")
    if current.replaces_version is None:
        raise NotFoundError(f"no earlier {kind} model was ever active")
    previous = get(session=session, org_id=org_id, kind=kind, version=current.replaces_version)
    current.status = "retired"
    session.flush()
    # Its own replaces_version stays: a second rollback goes one step further back.
    previous.status = "active"
    session.flush()
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="model.rollback",
        entity="model_version",
        entity_ids=[previous.id, current.id],
        details={"kind": kind, "from": current.version, "to": previous.version},
    )
    return previous
