"""Which embedder item search uses: OpenAI (or Azure OpenAI) when configured, else local.

The local embedder (``ml.embeddings.HashingEmbedder``) needs no network and no download.
An OpenAI embedder asks for ``dimensions=384`` so its vectors fit ``items.embedding``;
each stored vector records the embedder's ``name``, so switching provider or model makes
the stored vectors stale and they are recomputed on the next search.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from langchain_core.embeddings import Embeddings

from core.errors import ConfigurationError, ExternalServiceError
from core.settings import Settings, get_settings
from ml.embeddings import DIMENSION, Embedder, HashingEmbedder
from store.models import EMBEDDING_DIM

if DIMENSION != EMBEDDING_DIM:  # pragma: no cover - a build error, not a runtime state
    raise ImportError(f"ml.embeddings.DIMENSION {DIMENSION} != items.embedding {EMBEDDING_DIM}")


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible or Azure OpenAI endpoint, 384 dimensions."""

    def __init__(self, client: Embeddings, *, name: str, dimension: int = EMBEDDING_DIM) -> None:
        self._client = client
        self._name = name
        self._dimension = dimension

    @property
    def name(self) -> str:
        """Provider, model and dimension, e.g. ``openai:text-embedding-3-small:384``."""
        return self._name

    @property
    def dimension(self) -> int:
        """Vector length."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one vector per text; a failure or a wrong width is an ExternalServiceError."""
        if not texts:
            return []
        try:
            vectors = self._client.embed_documents(list(texts))
        except Exception as exc:  # the SDK raises many types; the edges need one
            raise ExternalServiceError(
                f"embedding service failed ({type(exc).__name__}): {exc}"
            ) from exc
        if len(vectors) != len(texts) or any(len(v) != self._dimension for v in vectors):
            widths = sorted({len(v) for v in vectors})
            raise ExternalServiceError(
                f"embedding service returned {len(vectors)} vectors of width {widths} for "
                f"{len(texts)} texts; expected width {self._dimension} (does the model "
                "support the dimensions parameter?)"
            )
        return [[float(x) for x in v] for v in vectors]


def openai_embedder(settings: Settings) -> OpenAIEmbedder:
    """Build the OpenAI (or Azure OpenAI) embedder the settings describe."""
    from langchain_openai import AzureOpenAIEmbeddings, OpenAIEmbeddings

    # check_embedding_ctx_length=False: no tiktoken, whose encodings would be downloaded;
    # item texts are a few words, far below any context limit.
    if settings.openai_api_key is not None:
        client: Embeddings = OpenAIEmbeddings(
            model=settings.openai_embedding_model,
            dimensions=EMBEDDING_DIM,
            openai_api_key=settings.openai_api_key,
            openai_api_base=settings.openai_base_url,
            request_timeout=settings.llm_timeout_seconds,
            max_retries=2,
            check_embedding_ctx_length=False,
        )
        return OpenAIEmbedder(
            client, name=f"openai:{settings.openai_embedding_model}:{EMBEDDING_DIM}"
        )
    deployment = settings.azure_openai_embedding_deployment
    if (
        settings.azure_openai_endpoint is not None
        and settings.azure_openai_api_key is not None
        and deployment is not None
    ):
        client = AzureOpenAIEmbeddings(
            azure_endpoint=settings.azure_openai_endpoint,
            deployment=deployment,
            openai_api_key=settings.azure_openai_api_key,
            openai_api_version=settings.azure_openai_api_version,
            dimensions=EMBEDDING_DIM,
            request_timeout=settings.llm_timeout_seconds,
            max_retries=2,
            check_embedding_ctx_length=False,
        )
        return OpenAIEmbedder(client, name=f"azure:{deployment}:{EMBEDDING_DIM}")
    raise ConfigurationError(
        "PRICING_AGENT_EMBEDDINGS=openai needs OPENAI_API_KEY, or AZURE_OPENAI_ENDPOINT, "
        "AZURE_OPENAI_API_KEY and AZURE_OPENAI_EMBEDDING_DEPLOYMENT"
    )


def _openai_configured(settings: Settings) -> bool:
    return settings.openai_api_key is not None or (
        settings.azure_openai_endpoint is not None
        and settings.azure_openai_api_key is not None
        and settings.azure_openai_embedding_deployment is not None
    )


def make_embedder(settings: Settings) -> Embedder:
    """Choose the embedder: ``PRICING_AGENT_EMBEDDINGS`` local|openai, or auto (OpenAI when
    a key is configured, else local)."""
    provider = settings.embedding_provider
    if provider == "openai" or (provider == "auto" and _openai_configured(settings)):
        return openai_embedder(settings)
    return local_embedder()


@lru_cache(maxsize=1)
def local_embedder() -> HashingEmbedder:
    """The local hashing embedder (one per process)."""
    return HashingEmbedder(EMBEDDING_DIM)


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The process-wide embedder chosen from ``core.settings.get_settings()``."""
    return make_embedder(get_settings())
