"""Request body limits, answered as problem+json before a byte too many is read."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem


class _BodyTooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies over ``default`` bytes (or a path's own limit) with a 413 problem.

    A declared Content-Length is checked before the app runs; a chunked body is counted
    as it arrives, so a client that lies or streams forever is cut off just the same.
    """

    def __init__(self, app: ASGIApp, *, default: int, per_path: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"].rstrip("/"), self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLargeError
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLargeError:
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(
            413,
            "Request too large",
            f"the request body is over this endpoint's limit of {limit:,} bytes",
            instance=scope["path"],
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


NUL_DETAIL = "text may not contain NUL (U+0000) characters"


class NulGuardMiddleware:
    """Refuse NUL characters in the path, the query and JSON bodies with a 422 problem.

    PostgreSQL text cannot hold U+0000, so such a value would fail deep in a query; it is
    never meaningful in a code, a name or a buyer's message, so it is refused at the door.
    A JSON body is read whole first (the body limit, outside this, bounds it) and then
    handed on unchanged. File uploads are binary and pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = bytes(scope.get("raw_path") or b"") + b"?" + bytes(scope.get("query_string") or b"")
        if b"\x00" in raw or b"%00" in raw:
            await _refuse_nul(scope, receive, send)
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client left; let the app see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\\u0000" in body or b"\x00" in body:
            await _refuse_nul(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _refuse_nul(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem(
        422,
        "Invalid input",
        NUL_DETAIL,
        instance=scope["path"],
        errors=[{"field": "request", "in": "body", "message": NUL_DETAIL}],
    )
    await response(scope, receive, send)
