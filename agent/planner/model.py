"""The offline planner behind LangChain's chat-model interface.

With no LLM configured the graph runs unchanged: this model reads the conversation,
picks tools and fills their arguments (``plan``), and writes a templated answer from the
results (``answer``). It says in every answer that it is offline, and why: no model is
configured, or (``note``) the configured one failed and the planner stands in for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, PrivateAttr

from agent.planner.answer import OFFLINE_NOTE
from agent.planner.lexicon import Lexicon
from agent.planner.plan import next_message


class OfflinePlanner(BaseChatModel):
    """A rule-based planner that acts like a tool-calling chat model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    lexicon_loader: Callable[[], Lexicon]
    as_of: dt.date | None = None
    note: str | None = None  # replaces the "no language model is configured" note
    _lexicon: Lexicon | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "pricing-agent-offline-planner"

    def lexicon(self) -> Lexicon:
        """The organisation's names, read once per planner."""
        if self._lexicon is None:
            self._lexicon = self.lexicon_loader()
        return self._lexicon

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept the tool list; the planner knows the registry's tools already."""
        return self.bind(**kwargs)

    def _plan(self, messages: list[BaseMessage]) -> AIMessage:
        conversation = [m for m in messages if not isinstance(m, SystemMessage)]
        message = next_message(
            conversation,  # type: ignore[arg-type]
            self.lexicon(),
            as_of=self.as_of or dt.datetime.now(dt.UTC).date(),
        )
        if self.note and isinstance(message.content, str) and message.content:
            text = message.content
            # Here, not after the call, so that streamed tokens carry the same note.
            if OFFLINE_NOTE in text:
                text = text.replace(OFFLINE_NOTE, self.note)
            else:
                text = f"{text}\n\n{self.note}"
            message = AIMessage(text, tool_calls=message.tool_calls, id=message.id)
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._plan(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._plan(messages)
        if message.tool_calls:
            chunk = AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": call["name"],
                        "args": _json(call["args"]),
                        "id": call["id"],
                        "index": i,
                        "type": "tool_call_chunk",
                    }
                    for i, call in enumerate(message.tool_calls)
                ],
            )
            yield ChatGenerationChunk(message=chunk)
            return
        text = str(message.content)
        start = 0
        while start < len(text):
            end = text.find(" ", start + 1)
            end = len(text) if end < 0 else end
            piece = text[start:end]
            if run_manager:
                run_manager.on_llm_new_token(piece)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
            start = end


def _json(args: dict[str, Any]) -> str:
    import json

    return json.dumps(args)
