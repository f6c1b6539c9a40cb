"""SAP S/4HANA connector: OData v2 reads and writes over httpx, the SOAP order read with zeep."""

from integrations.sap.connector import SapConnector
from integrations.sap.settings import SapSettings, load_sap_settings

__all__ = ["SapConnector", "SapSettings", "load_sap_settings"]
