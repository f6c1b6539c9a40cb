"""Client-credentials tokens for Dynamics 365 from Entra ID, through msal and its token cache."""

from __future__ import annotations

import threading
from typing import Any

import msal
import requests

from core.errors import AuthenticationError, ConfigurationError, ExternalServiceError
from integrations.d365.settings import D365Settings

# Entra ID error codes that mean "these credentials are wrong", not "the service failed".
_CREDENTIAL_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_request"}
)


def make_requests_session(settings: D365Settings) -> requests.Session:
    """Build the HTTP session msal uses: the configured CA bundle, no environment overrides."""
    session = requests.Session()
    if settings.ca_bundle is not None:
        session.verify = str(settings.ca_bundle)
        # REQUESTS_CA_BUNDLE (set on many machines) would otherwise override ``verify``.
        session.trust_env = False
    return session


class D365TokenProvider:
    """Bearer tokens for ``<resource_url>/.default``; msal serves repeats from its cache."""

    def __init__(
        self, settings: D365Settings, *, http_client: requests.Session | None = None
    ) -> None:
        if settings.client_secret is None:
            raise ConfigurationError(
                "D365_CLIENT_SECRET is not set: the Dynamics 365 connector needs the secret of "
                f"app registration {settings.client_id} in tenant {settings.tenant_id}"
            )
        self._settings = settings
        self._session = http_client or make_requests_session(settings)
        self._owns_session = http_client is None
        self._lock = threading.Lock()
        self._app: Any = None  # built lazily: msal reads the authority's metadata on creation

    def _application(self) -> Any:
        if self._app is None:
            settings = self._settings
            secret = settings.client_secret
            assert secret is not None  # checked in __init__
            try:
                self._app = msal.ConfidentialClientApplication(
                    settings.client_id,
                    client_credential=secret.get_secret_value(),
                    authority=settings.authority,
                    # A sovereign, private or loopback authority is not in Microsoft's list.
                    instance_discovery=False,
                    http_client=self._session,
                    timeout=settings.timeout_seconds,
                )
            except ValueError as exc:
                # msal raises ValueError for an authority it cannot read or use.
                raise ExternalServiceError(
                    f"Dynamics 365 sign-in: authority {settings.authority} is unusable ({exc})"
                ) from None
            except requests.RequestException as exc:
                raise ExternalServiceError(
                    f"Dynamics 365 sign-in: authority {settings.authority} unreachable "
                    f"({type(exc).__name__})"
                ) from None
        return self._app

    def token(self) -> str:
        """Return a valid access token, from msal's cache when it has one that is not expiring."""
        settings = self._settings
        with self._lock:
            app = self._application()
            try:
                result = app.acquire_token_for_client(scopes=[settings.scope])
            except requests.RequestException as exc:
                raise ExternalServiceError(
                    f"Dynamics 365 sign-in: token endpoint of {settings.authority} unreachable "
                    f"({type(exc).__name__})"
                ) from None
        if not isinstance(result, dict):
            raise ExternalServiceError("Dynamics 365 sign-in: no answer from the token endpoint")
        access_token = result.get("access_token")
        if isinstance(access_token, str) and access_token:
            return access_token
        code = str(result.get("error") or "unknown_error")
        # error_description never holds the secret, but keep only its first line (the
        # trace and correlation ids follow).
        description = str(result.get("error_description") or "").splitlines()
        detail = f": {description[0]}" if description else ""
        who = f"client id {settings.client_id} in tenant {settings.tenant_id}"
        if code in _CREDENTIAL_ERRORS:
            raise AuthenticationError(
                f"Dynamics 365 sign-in refused for {who} ({code}){detail}; "
                "check D365_CLIENT_ID and D365_CLIENT_SECRET"
            )
        raise ExternalServiceError(f"Dynamics 365 sign-in failed for {who} ({code}){detail}")

    def invalidate(self, token: str) -> None:
        """Drop a token the service refused, so the next ``token()`` asks Entra ID again."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                if entry.get("secret") == token:
                    cache.remove_at(entry)

    def close(self) -> None:
        """Close the HTTP session if this provider made it."""
        if self._owns_session:
            self._session.close()
