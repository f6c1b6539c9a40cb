"""One router per resource, all under ``/api/v1`` but health and metrics."""
