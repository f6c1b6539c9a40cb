"""Agent fixtures: turns on the sample organisation, and a scripted chat model."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import PrivateAttr

from agent import TurnResult, run_turn
from agent.fallback import reset_breakers
from agent.planner.lexicon import Lexicon, load_lexicon
from store.db import Database
from tests.conftest import AS_OF


class ScriptedChatModel(BaseChatModel):
    """Returns the scripted replies in order, recording what it was sent."""

    replies: list[AIMessage]
    _seen: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def seen(self) -> list[list[BaseMessage]]:
        """The message lists of each call."""
        return self._seen

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(**kwargs)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self._seen.append(list(messages))
        index = min(len(self._seen) - 1, len(self.replies) - 1)
        script = self.replies[index]
        # A repeated reply gets fresh call ids, as a real model's would be.
        calls = [{**c, "id": f"{c['id']}-{len(self._seen)}"} for c in script.tool_calls]
        reply = AIMessage(content=script.content, tool_calls=calls)
        return ChatResult(generations=[ChatGeneration(message=reply)])


def call(name: str, args: dict[str, Any], call_id: str | None = None) -> dict[str, Any]:
    """A tool call as a model would write it."""
    return {"name": name, "args": args, "id": call_id or f"call_{uuid.uuid4().hex[:8]}"}


Turn = Callable[..., TurnResult]


@pytest.fixture
def turn(database: Database, sample_org: uuid.UUID) -> Turn:
    """Run a turn on the sample organisation as of the sample's end, as user ``buyer``."""

    def run(message: str | None, **kwargs: Any) -> TurnResult:
        kwargs.setdefault("user_id", "buyer")
        kwargs.setdefault("org_id", sample_org)
        return run_turn(message, database=database, as_of=AS_OF, **kwargs)

    return run


@pytest.fixture(scope="session")
def lexicon(database: Database, sample_org: uuid.UUID) -> Lexicon:
    """The sample organisation's names, as the offline planner reads them."""
    with database.session_scope(sample_org) as session:
        return load_lexicon(session, sample_org)


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    """Each test starts with closed circuit breakers (they live for the process)."""
    reset_breakers()
    yield
    reset_breakers()
