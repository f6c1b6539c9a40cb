"""The model registry: versions, one active per kind, promote and roll back."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import NotFoundError
from store import registry
from store.models import AuditLog, ModelVersion


def _register(session, org_id, *, activate=True, kind="price"):
    return registry.register(
        session=session,
        org_id=org_id,
        kind=kind,
        artifact=b"artifact",
        artifact_format="test",
        data_fingerprint="f" * 64,
        training_rows=10,
        training_seconds=0.5,
        params={},
        metrics={"rmsle": 0.5},
        actor="test",
        activate=activate,
    )


def test_versions_count_up_and_the_newest_is_active(session, org_id):
    first = _register(session, org_id)
    second = _register(session, org_id)
    other_kind = _register(session, org_id, kind="forecast")
    assert (first.version, second.version, other_kind.version) == (1, 2, 1)
    assert registry.active(session=session, org_id=org_id, kind="price").version == 2
    session.refresh(first)
    assert first.status == "retired"
    assert registry.active(session=session, org_id=org_id, kind="forecast").version == 1


def test_candidate_is_not_active_until_promoted(session, org_id):
    _register(session, org_id)
    candidate = _register(session, org_id, activate=False)
    assert candidate.status == "candidate"
    assert registry.active(session=session, org_id=org_id, kind="price").version == 1
    registry.promote(session=session, org_id=org_id, kind="price", version=2, actor="t")
    assert registry.active(session=session, org_id=org_id, kind="price").version == 2


def test_rollback_returns_to_the_previously_active_version(session, org_id):
    _register(session, org_id)
    _register(session, org_id)
    _register(session, org_id)
    back = registry.rollback(session=session, org_id=org_id, kind="price", actor="t")
    assert back.version == 2
    back_again = registry.rollback(session=session, org_id=org_id, kind="price", actor="t")
    assert back_again.version == 1
    with pytest.raises(NotFoundError, match="no earlier"):
        registry.rollback(session=session, org_id=org_id, kind="price", actor="t")
    actions = session.scalars(select(AuditLog.action)).all()
    assert actions.count("model.rollback") == 2
    assert actions.count("model.register") == 3


def test_database_refuses_two_active_versions(session, org_id):
    _register(session, org_id)
    second = _register(session, org_id, activate=False)
    second.status = "active"
    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


def test_missing_versions_are_not_found(session, org_id):
    with pytest.raises(NotFoundError):
        registry.promote(session=session, org_id=org_id, kind="price", version=9, actor="t")
    with pytest.raises(NotFoundError, match="no active"):
        registry.rollback(session=session, org_id=org_id, kind="price", actor="t")
    assert session.scalars(select(ModelVersion)).all() == []
