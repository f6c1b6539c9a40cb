"""The HTTP service: ``create_app()`` builds the FastAPI app every face mounts into."""

from api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
