"""The domain error tree.

Edges translate these and nothing else: problem+json in the API, a short message in
Slack, an error ToolMessage in the agent, a clean exit code in the command line.
"""

from __future__ import annotations


class PricingAgentError(Exception):
    """Base of every error the product raises on purpose."""

    #: Short, stable title for problem+json and logs.
    title = "Pricing agent error"
    #: HTTP status an API edge should use.
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(PricingAgentError):
    """A setting is missing, malformed or a placeholder."""

    title = "Configuration error"


class InvalidInputError(PricingAgentError):
    """The caller sent something the domain cannot accept."""

    title = "Invalid input"
    http_status = 422


class UnitConversionError(InvalidInputError):
    """Two units cannot be converted (unknown unit or different dimensions)."""

    title = "Unit conversion impossible"


class CurrencyConversionError(InvalidInputError):
    """No exchange rate is known for a currency pair on or before a date."""

    title = "Currency conversion impossible"


class ImportFileError(InvalidInputError):
    """An import file cannot be read at all (format, encoding, missing columns)."""

    title = "Import file unreadable"


class NotFoundError(PricingAgentError):
    """A named thing does not exist in the caller's organisation."""

    title = "Not found"
    http_status = 404


class ConflictError(PricingAgentError):
    """The request clashes with the current state (e.g. a name already taken)."""

    title = "Conflict"
    http_status = 409


class AuthenticationError(PricingAgentError):
    """Credentials are missing, unknown or revoked."""

    title = "Authentication required"
    http_status = 401


class PermissionDeniedError(PricingAgentError):
    """The caller is known but its role may not do this."""

    title = "Permission denied"
    http_status = 403


class StoreUnavailableError(PricingAgentError):
    """The PostgreSQL store cannot be reached or started."""

    title = "Store unavailable"
    http_status = 503


class ExternalServiceError(PricingAgentError):
    """An ERP, market feed or LLM failed or timed out."""

    title = "External service unavailable"
    http_status = 502


class WriteOutcomeUnknownError(ExternalServiceError):
    """A write reached the service but no answer came back: it may or may not be done.

    Sending it again could make a duplicate; someone must look in the service first.
    """

    title = "Write outcome unknown"
