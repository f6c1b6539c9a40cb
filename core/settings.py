"""One Settings object for the service, read from the environment and `.env`."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigurationError

# Values people paste from templates; a secret like this must never reach a live service.
_PLACEHOLDER = re.compile(
    r"^(?:|changeme|change[-_ ]?me|replace[-_ ]?me|your[-_ ]?(?:api[-_ ]?)?key(?:[-_ ]?here)?|"
    r"todo|tbd|placeholder|secret|password|xxx+|sk-\.\.\.|sk-x+|<.*>|\$\{.*\}|\.\.\.)$",
    re.IGNORECASE,
)


def is_placeholder(value: str) -> bool:
    """Tell whether a secret is a template placeholder rather than a real value."""
    return bool(_PLACEHOLDER.match(value.strip()))


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pricing-agent", appauthor=False))


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Service settings. Secrets have no working defaults."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: Annotated[
        SecretStr | None,
        Field(
            default=None,
            validation_alias=_env("DATABASE_URL"),
            description="Owner connection to an external PostgreSQL 15+ with pgvector. "
            "Unset: an embedded server is started in the data folder.",
        ),
    ]
    database_app_url: Annotated[
        SecretStr | None,
        Field(
            default=None,
            validation_alias=_env("DATABASE_APP_URL"),
            description="Optional separate login for the service; defaults to DATABASE_URL "
            "stepping down to the application role.",
        ),
    ]
    db_app_role: Annotated[
        str,
        Field(
            default="pricing_app",
            validation_alias=_env("PRICING_AGENT_DB_APP_ROLE"),
            pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        ),
    ]
    db_name: Annotated[
        str,
        Field(
            default="pricing_agent",
            validation_alias=_env("PRICING_AGENT_DB_NAME"),
            pattern=r"^[a-z_][a-z0-9_]{0,62}$",
            description="Database created inside the embedded server.",
        ),
    ]
    data_dir: Annotated[
        Path,
        Field(default_factory=_default_data_dir, validation_alias=_env("PRICING_AGENT_DATA_DIR")),
    ]
    default_org: Annotated[
        str, Field(default="demo", validation_alias=_env("PRICING_AGENT_ORG"), min_length=1)
    ]
    log_level: Annotated[str, Field(default="WARNING", validation_alias=_env("LOG_LEVEL"))]

    # LLM (used from the agent issue on). No key: the offline planner answers.
    openai_api_key: Annotated[
        SecretStr | None, Field(default=None, validation_alias=_env("OPENAI_API_KEY"))
    ]
    openai_base_url: Annotated[
        str | None, Field(default=None, validation_alias=_env("OPENAI_BASE_URL"))
    ]
    openai_model: Annotated[
        str, Field(default="gpt-4o-mini", validation_alias=_env("OPENAI_MODEL"))
    ]
    azure_openai_endpoint: Annotated[
        str | None, Field(default=None, validation_alias=_env("AZURE_OPENAI_ENDPOINT"))
    ]
    azure_openai_api_key: Annotated[
        SecretStr | None, Field(default=None, validation_alias=_env("AZURE_OPENAI_API_KEY"))
    ]
    azure_openai_deployment: Annotated[
        str | None, Field(default=None, validation_alias=_env("AZURE_OPENAI_DEPLOYMENT"))
    ]
    azure_openai_api_version: Annotated[
        str, Field(default="2024-10-21", validation_alias=_env("AZURE_OPENAI_API_VERSION"))
    ]
    llm_timeout_seconds: Annotated[
        float, Field(default=30.0, gt=0, validation_alias=_env("LLM_TIMEOUT_SECONDS"))
    ]

    # Item-search embeddings. "auto": OpenAI (or Azure) when a key is configured, else the
    # local hashing embedder, which needs no network. Stored vectors record their model.
    embedding_provider: Annotated[
        Literal["auto", "local", "openai"],
        Field(default="auto", validation_alias=_env("PRICING_AGENT_EMBEDDINGS")),
    ]
    openai_embedding_model: Annotated[
        str,
        Field(default="text-embedding-3-small", validation_alias=_env("OPENAI_EMBEDDING_MODEL")),
    ]
    azure_openai_embedding_deployment: Annotated[
        str | None,
        Field(default=None, validation_alias=_env("AZURE_OPENAI_EMBEDDING_DEPLOYMENT")),
    ]

    @field_validator("database_url", "database_app_url", mode="before")
    @classmethod
    def _postgres_only(cls, value: object) -> SecretStr | None:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or not str(raw).strip():
            return None
        url = str(raw).strip()
        if not re.match(r"^postgres(?:ql)?(?:\+psycopg)?://", url):
            raise ValueError("must be a postgresql:// or postgresql+psycopg:// URL")
        # SQLAlchemy needs the driver named; accept the libpq spelling too.
        url = re.sub(r"^postgres(?:ql)?://", "postgresql+psycopg://", url)
        try:
            make_url(url)
        except (ValueError, ArgumentError) as exc:
            # The message must not echo the URL: it may hold a password.
            raise ValueError(f"is not a valid database URL ({type(exc).__name__})") from None
        return SecretStr(url)

    @field_validator("openai_api_key", "azure_openai_api_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and is_placeholder(value.get_secret_value()):
            raise ValueError("is a placeholder, not a real key; unset it to run offline")
        return value

    @property
    def embedded(self) -> bool:
        """True when the store is the embedded server (no DATABASE_URL)."""
        return self.database_url is None

    @property
    def llm_configured(self) -> bool:
        """True when a real LLM endpoint is configured."""
        return self.openai_api_key is not None or (
            self.azure_openai_endpoint is not None and self.azure_openai_api_key is not None
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into one clear ConfigurationError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None


S = TypeVar("S", bound=BaseSettings)


def load_section(cls: type[S], *, prefix: str, what: str, **overrides: object) -> S:
    """Read one integration's settings class; a failure is one ConfigurationError.

    Problems name the environment variable (``SAP_BASE_URL: Field required``), never the
    rejected value, which may hold a password.
    """
    try:
        return cls(**overrides)  # type: ignore[arg-type]  # each class checks its own fields
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{'.'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid {what} settings: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return load_settings()
