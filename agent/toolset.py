"""The tools as the model sees them, and running one call safely.

A call never crashes a turn: bad arguments, domain errors and unexpected failures all
come back to the model as an error ``ToolMessage`` it can read and act on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from langchain_core.messages import ToolMessage
from pydantic import BaseModel, ValidationError

from agent.context import RunContext
from core.errors import PricingAgentError
from tools import TOOLS, ToolSpec

log = logging.getLogger(__name__)

APPROVAL_TOOLS: dict[str, str] = {
    "draft_counter_offer": "send_counter_offer",
    "draft_requisition": "create_requisition",
    "draft_contract_price_update": "update_contract_price",
}
"""Tools whose result is an action outside the store, and the action a person approves."""


def tool_schemas() -> list[dict[str, Any]]:
    """Return every tool in the OpenAI function-calling format."""
    return [
        {
            "type": "function",
            "function": {
                "name": spec.name,
                "description": spec.description,
                "parameters": spec.input_model.model_json_schema(),
            },
        }
        for spec in TOOLS.values()
    ]


def error_message(call_id: str, name: str, text: str) -> ToolMessage:
    """Return an error result the model can read."""
    return ToolMessage(content=f"ERROR: {text}", tool_call_id=call_id, name=name, status="error")


def _validation_text(exc: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
        for err in exc.errors()
    )
    return f"invalid arguments: {problems}"


def run_tool(run: RunContext, call: dict[str, Any]) -> tuple[ToolMessage, BaseModel | None]:
    """Run one tool call in its own transaction; return its message and output.

    Each call commits on its own, so a failed call leaves the others' work intact and
    does not poison the transaction of the next call.
    """
    name = str(call.get("name", ""))
    call_id = str(call.get("id", ""))
    spec: ToolSpec | None = TOOLS.get(name)
    if spec is None:
        return error_message(call_id, name, f"there is no tool named {name!r}"), None
    try:
        args = spec.input_model.model_validate(call.get("args") or {})
    except ValidationError as exc:
        return error_message(call_id, name, _validation_text(exc)), None
    try:
        with run.session_factory(run.org_id) as session:
            output = spec.function(run.tool_context(session), args)
    except PricingAgentError as exc:
        return error_message(call_id, name, f"{type(exc).__name__}: {exc}"), None
    except ValidationError as exc:
        return error_message(call_id, name, _validation_text(exc)), None
    except Exception:
        # The model gets a plain message; the operator gets the traceback.
        log.exception("tool %s failed", name)
        return error_message(call_id, name, f"{name} failed unexpectedly; it was logged"), None
    content = output.model_dump_json()
    limit = run.agent_settings.max_tool_output_chars
    if len(content) > limit:
        content = json.dumps({"truncated": True, "head": content[:limit]})
    # The full result rides along as the artifact (kept in memory, never sent to a model):
    # the offline planner and the faces read it even when the content was cut.
    message = ToolMessage(
        content=content,
        tool_call_id=call_id,
        name=name,
        artifact=output.model_dump(mode="json"),
    )
    return message, output
