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

from agent.settings import AgentSettings
from core.settings import Settings

SessionFactory = Callable[[uuid.UUID], AbstractContextManager[Session]]
Mode = Literal["offline", "llm"]


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
    mode: Mode
    settings: Settings
    agent_settings: AgentSettings
    as_of: dt.date
