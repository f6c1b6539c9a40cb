"""Run the HTTP service with uvicorn (``pricing-agent serve`` and the end of ``make demo``).

The app is named by its import string, so uvicorn can start it in each worker process;
the faces here never import the service package itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile

APP_FACTORY = "api.app:create_app"


def serve(*, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Serve the API (and what it mounts) until interrupted."""
    import uvicorn

    multiproc_dir: str | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts its own requests; /metrics sums them from this folder.
        multiproc_dir = tempfile.mkdtemp(prefix="pricing-agent-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            proxy_headers=True,
            timeout_graceful_shutdown=30,
        )
    finally:
        if multiproc_dir:
            shutil.rmtree(multiproc_dir, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
