"""The chat model of a turn: OpenAI, Azure OpenAI, any OpenAI-compatible server, or offline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from langchain_core.language_models import BaseChatModel

from agent.context import ModelMode
from agent.planner.lexicon import Lexicon
from core.errors import ConfigurationError
from core.settings import Settings


def make_chat_model(
    settings: Settings, lexicon: Callable[[], Lexicon], *, as_of: dt.date | None = None
) -> tuple[BaseChatModel, ModelMode]:
    """Return the configured chat model and its mode.

    Azure wins when its endpoint and key are set, then OpenAI (``OPENAI_BASE_URL`` points
    it at vLLM, Ollama, llama.cpp or LM Studio). With neither, the offline planner, which
    needs the organisation's names (``lexicon``) to read questions.

    The client does not retry (``agent.fallback`` does, within a bound): its own retries
    honour a Retry-After of up to two minutes and repeat timed-out calls.
    """
    timeout = settings.llm_timeout_seconds
    if settings.azure_openai_endpoint and settings.azure_openai_api_key:
        from langchain_openai import AzureChatOpenAI

        if not settings.azure_openai_deployment:
            raise ConfigurationError("AZURE_OPENAI_DEPLOYMENT is required with Azure OpenAI")
        azure = AzureChatOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            azure_deployment=settings.azure_openai_deployment,
            api_version=settings.azure_openai_api_version,
            api_key=settings.azure_openai_api_key,
            timeout=timeout,
            max_retries=0,
            temperature=0,
        )
        return azure, "llm"
    if settings.openai_api_key is not None:
        from langchain_openai import ChatOpenAI

        chat = ChatOpenAI(
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=timeout,
            max_retries=0,
            temperature=0,
        )
        return chat, "llm"
    from agent.planner.model import OfflinePlanner

    return OfflinePlanner(lexicon_loader=lexicon, as_of=as_of), "offline"


def endpoint_key(settings: Settings) -> str | None:
    """Name the configured model endpoint (no secrets), or None when none is configured."""
    if settings.azure_openai_endpoint and settings.azure_openai_api_key:
        return f"azure:{settings.azure_openai_endpoint}#{settings.azure_openai_deployment}"
    if settings.openai_api_key is not None:
        base = settings.openai_base_url or "https://api.openai.com/v1"
        return f"openai:{base}#{settings.openai_model}"
    return None
