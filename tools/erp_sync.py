"""ERP sync as a capability for the faces (the CLI and scheduled jobs): which systems, since when.

The work is ``integrations.sync.sync_erp``; this module picks the connectors from the
environment and reports each system's run, so a failing ERP never stops the others.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from core.errors import ConfigurationError, PricingAgentError
from integrations.connectors import SYSTEMS, build_connector, configured_systems
from integrations.sync import SyncReport, sync_erp
from store.db import Database


@dataclass(frozen=True, slots=True)
class SystemSync:
    """One system's outcome: its report, or why it did not run or failed."""

    system: str
    report: SyncReport | None
    error: str | None = None


def sync_systems(
    *,
    database: Database,
    org_id: uuid.UUID,
    systems: list[str],
    since: dt.datetime | None = None,
    actor: str = "sync",
) -> list[SystemSync]:
    """Sync each named system ("all" = every configured one) into the organisation."""
    names = configured_systems() if systems == ["all"] else systems
    if not names:
        raise ConfigurationError(
            "no ERP is configured: set SAP_BASE_URL, EBS_URL or D365_RESOURCE_URL"
        )
    outcomes = []
    for system in names:
        if system not in SYSTEMS:
            raise ConfigurationError(f"unknown ERP {system!r}; choose from {', '.join(SYSTEMS)}")
        try:
            connector = build_connector(system)
        except PricingAgentError as exc:
            outcomes.append(SystemSync(system, None, exc.message))
            continue
        try:
            report = sync_erp(
                database=database, org_id=org_id, connector=connector, since=since, actor=actor
            )
            outcomes.append(SystemSync(system, report))
        except PricingAgentError as exc:
            outcomes.append(SystemSync(system, None, exc.message))
        finally:
            connector.close()
    return outcomes
