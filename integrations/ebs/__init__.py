"""Oracle E-Business Suite R12: SQL reads and open-interface writes behind ERPConnector."""

from integrations.ebs.connector import EbsConnector, create_ebs_engine
from integrations.ebs.settings import EbsSettings, load_ebs_settings

__all__ = ["EbsConnector", "EbsSettings", "create_ebs_engine", "load_ebs_settings"]
