"""Build a connector from its settings (``SAP_*``, ``EBS_*``, ``D365_*``) by system name."""

from __future__ import annotations

import os

from core.errors import ConfigurationError
from integrations.base import ERPConnector

SYSTEMS = ("sap", "ebs", "d365")
# The variable whose presence says a system is meant to be synced at all.
_MARKERS = {"sap": "SAP_BASE_URL", "ebs": "EBS_URL", "d365": "D365_RESOURCE_URL"}


def configured_systems() -> list[str]:
    """The systems whose main setting is present in the environment."""
    return [system for system in SYSTEMS if os.environ.get(_MARKERS[system])]


def build_connector(system: str) -> ERPConnector:
    """Return the connector of ``system`` built from its settings, or ConfigurationError."""
    if system == "sap":
        from integrations.sap.connector import SapConnector
        from integrations.sap.settings import load_sap_settings

        return SapConnector(load_sap_settings())
    if system == "ebs":
        from integrations.ebs import EbsConnector, load_ebs_settings

        settings = load_ebs_settings()
        if not settings.configured:
            raise ConfigurationError("Oracle EBS is not configured: set EBS_URL")
        return EbsConnector(settings)
    if system == "d365":
        from integrations.d365 import D365Connector, load_d365_settings

        return D365Connector(load_d365_settings())
    raise ConfigurationError(f"unknown ERP {system!r}; choose from {', '.join(SYSTEMS)}")
