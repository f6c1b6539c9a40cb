"""Microsoft Dynamics 365 Finance & Operations: OData v4 with an Entra ID (msal) token."""

from integrations.d365.auth import D365TokenProvider
from integrations.d365.connector import D365Connector
from integrations.d365.settings import D365Settings, load_d365_settings

__all__ = ["D365Connector", "D365Settings", "D365TokenProvider", "load_d365_settings"]
