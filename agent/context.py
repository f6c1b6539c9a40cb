"""The run context of one turn: who asks, for which organisation, and with what."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

from langchain_core.language_models import BaseChatModel
from sqlalchemy.orm import Session

from agent.planner.lexicon import Lexicon
from agent.settings import AgentSettings
from core.settings import Settings
from tools.base import ToolContext
from tools.erp_actions import ConnectorFactory

SessionFactory = Callable[[uuid.UUID], AbstractContextManager[Session]]
ModelMode = Literal["offline", "llm"]
"""The model a turn is configured with: the offline planner, or a language model."""
Mode = Literal["offline", "llm", "offline-fallback"]
"""How a turn was answered; ``offline-fallback``: the model failed and the planner stood in."""


@dataclass(frozen=True)
class RunContext:
    """Everything a node needs that is not conversation state.

    The organisation comes from here and only from here: no tool argument can name one,
    so nothing the model or a document says can move a call to another organisation.
    """

    org_id: uuid.UUID
    user_id: str
    thread_id: str
    session_factory: SessionFactory
    model: BaseChatModel
    mode: ModelMode
    settings: Settings
    agent_settings: AgentSettings
    as_of: dt.date
    # The organisation's names, for the offline planner when it stands in for the model.
    lexicon: Callable[[], Lexicon] | None = None
    # Which endpoint the model is, for its circuit breaker; None: a caller's own model.
    llm_endpoint: str | None = None
    # Builds an ERP's connector for an approved write; None: from its settings.
    erp_connectors: ConnectorFactory | None = None

    def tool_context(self, session: Session, actor: str | None = None) -> ToolContext:
        """The tool context of this turn on ``session``; ``actor`` defaults to the agent."""
        return ToolContext(
            session=session,
            org_id=self.org_id,
            as_of=self.as_of,
            actor=actor or f"agent:{self.user_id}",
            thread_id=self.thread_id,
        )
