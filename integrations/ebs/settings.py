"""Settings of the Oracle E-Business Suite connector, read from ``EBS_*`` variables."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.settings import load_section

# An Oracle schema owner as the connector may put it in front of a table name: a plain,
# unquoted identifier. Anything else would be pasted into SQL text, so it is refused.
_OWNER = re.compile(r"^[A-Za-z][A-Za-z0-9_$#]{0,127}$")


class EbsSettings(BaseSettings):
    """Where the EBS database is and what to read from it. The URL has no working default."""

    model_config = SettingsConfigDict(
        env_prefix="EBS_", env_file=".env", extra="ignore", populate_by_name=True
    )

    url: Annotated[
        SecretStr | None,
        Field(
            default=None,
            description="SQLAlchemy URL of the EBS database, e.g. "
            "oracle+oracledb://user:pass@host:1521/?service_name=EBSPROD. Unset: no connector.",
        ),
    ]
    operating_units: Annotated[
        list[int],
        Field(
            default_factory=list,
            description="Operating units (org_id) to read; empty reads all of them.",
        ),
    ]
    # ``schema`` itself would shadow pydantic's BaseModel.schema(), so the attribute has
    # another name; EBS_SCHEMA and ``EbsSettings(schema=...)`` both set it.
    schema_owner: Annotated[
        str | None,
        Field(
            default=None,
            validation_alias=AliasChoices("EBS_SCHEMA", "schema", "schema_owner"),
            description="Owner put in front of every table, e.g. APPS; unset relies on synonyms.",
        ),
    ]
    item_master_org_id: Annotated[
        int | None,
        Field(
            default=None,
            description="organization_id of the item master in mtl_system_items_b; unset "
            "reads each item once, from the lowest organization that holds it.",
        ),
    ]
    requisition_org_id: Annotated[
        int | None,
        Field(
            default=None,
            description="Operating unit requisitions are created in; defaults to the only "
            "configured operating unit.",
        ),
    ]
    preparer_id: Annotated[
        int | None,
        Field(default=None, description="person_id Requisition Import records as preparer."),
    ]
    fetch_size: Annotated[
        int, Field(default=1000, gt=0, le=100_000, description="Rows per page of a read.")
    ]
    timeout_seconds: Annotated[
        float, Field(default=60.0, gt=0, description="Connect and call timeout.")
    ]
    lookback_seconds: Annotated[
        float,
        Field(
            default=0.0,
            ge=0,
            description="Re-read this much before the watermark: EBS stamps last_update_date "
            "before commit, so a long transaction can land behind it. The sync upserts by key, "
            "so re-reading is harmless.",
        ),
    ]
    time_zone: Annotated[
        str,
        Field(
            default="UTC",
            description="Zone of the database clock; EBS DATE columns carry no zone.",
        ),
    ]

    @field_validator("url", mode="before")
    @classmethod
    def _valid_url(cls, value: object) -> SecretStr | None:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or not str(raw).strip():
            return None
        try:
            make_url(str(raw).strip())
        except (ValueError, ArgumentError) as exc:
            # The message must not echo the URL: it may hold a password.
            raise ValueError(f"is not a valid SQLAlchemy URL ({type(exc).__name__})") from None
        return SecretStr(str(raw).strip())

    @field_validator("schema_owner")
    @classmethod
    def _plain_owner(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _OWNER.match(value.strip()):
            raise ValueError("must be a plain identifier such as APPS")
        return value.strip()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known IANA time zone") from None
        return value

    @property
    def configured(self) -> bool:
        """True when a database URL is set."""
        return self.url is not None


def load_ebs_settings(**overrides: object) -> EbsSettings:
    """Read EBS settings; a failure becomes a ConfigurationError that never echoes values."""
    return load_section(EbsSettings, prefix="EBS_", what="EBS", **overrides)
