"""A loopback OpenAI-compatible chat server that plays scripted replies (tests and benchmarks).

It speaks ``POST /v1/chat/completions``, plain JSON or server-sent events when the client
asks to stream, so langchain-openai's real HTTP client runs against it. No model is behind
it: each reply is the next step of a script, chosen by how many assistant turns the
request already holds (or by a function of the request).

Faults are scripted too: a status other than 200 (with headers such as ``Retry-After``)
or a delay before the reply, for the whole server or for one step. Every request is
recorded before any delay, so a client that gave up still counts as having called.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = dict[str, Any]
"""``{"tool_calls": [(name, args), ...]}`` or ``{"content": "text"}``.

A step may also carry ``"status"`` (answer with that error status instead), ``"headers"``
(sent with the error) and ``"delay"`` (seconds to wait before answering).
"""


def step_by_turn(script: list[Step]) -> Callable[[dict[str, Any]], Step]:
    """Pick the script's step by the number of assistant messages already in the request."""

    def pick(body: dict[str, Any]) -> Step:
        done = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        return script[min(done, len(script) - 1)]

    return pick


class ScriptedOpenAI:
    """Serve scripted chat completions on 127.0.0.1 and record every request."""

    def __init__(
        self,
        script: list[Step] | Callable[[dict[str, Any]], Step],
        status: int = 200,
        *,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.pick = step_by_turn(script) if isinstance(script, list) else script
        # status, delay and headers apply to every request and may be changed while serving.
        self.status = status
        self.delay = delay
        self.headers = dict(headers or {})
        self.requests: list[dict[str, Any]] = []
        self.closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The ``OPENAI_BASE_URL`` that reaches this server."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()  # wakes requests still waiting out a delay
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                owner.requests.append({"path": self.path, "auth": auth, "body": body})
                number = len(owner.requests)
                step = owner.pick(body)
                delay = float(step.get("delay", owner.delay))
                if delay > 0 and owner.closing.wait(delay):
                    return  # the server is closing; the client has long given up
                status = int(step.get("status", owner.status))
                try:
                    if status != 200:
                        extra = {**owner.headers, **step.get("headers", {})}
                        self._send(status, _error(status), extra)
                        return
                    message = _message(step, number)
                    if body.get("stream"):
                        self._stream(message)
                    else:
                        finish = "tool_calls" if message.get("tool_calls") else "stop"
                        self._send(200, _completion(message, finish))
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client timed out and hung up; nothing to answer

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, message: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                calls = message.get("tool_calls")
                if calls:
                    deltas = [
                        {
                            "role": "assistant",
                            "tool_calls": [{"index": i, **c} for i, c in enumerate(calls)],
                        }
                    ]
                else:
                    text = str(message.get("content") or "")
                    deltas = [{"role": "assistant", "content": ""}]
                    deltas += [{"content": w + " "} for w in text.split()]
                for delta in deltas:
                    self._event({"index": 0, "delta": delta, "finish_reason": None})
                finish = "tool_calls" if calls else "stop"
                self._event({"index": 0, "delta": {}, "finish_reason": finish})
                self.wfile.write(b"data: [DONE]\n\n")

            def _event(self, choice: dict[str, Any]) -> None:
                chunk = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "scripted",
                    "choices": [choice],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())

        return Handler


def _message(step: Step, request_no: int) -> dict[str, Any]:
    calls = [
        {
            "id": f"call_{request_no}_{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for i, (name, args) in enumerate(step.get("tool_calls", []))
    ]
    message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
    if calls:
        message["tool_calls"] = calls
    return message


def _error(status: int) -> dict[str, Any]:
    kind = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status, "server_error")
    return {"error": {"message": f"scripted failure ({status})", "type": kind, "code": kind}}


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
