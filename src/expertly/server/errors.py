"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Clients written for OpenAI (its Python client, LangChain, LlamaIndex) read this shape and
retry 429 and 5xx, honouring ``Retry-After``. Every error the server answers is an
``APIError``; an ``ExpertlyError`` becomes a 400 (the message says what to do), a
request that fails validation a 400 naming the field, and anything else a logged 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from expertly.errors import ContextLengthError, ExpertlyError, ExpertlyTimeout, LLMError

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class APIError(Exception):
    """An error answered to the client with ``status`` and OpenAI's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def from_expertly(exc: ExpertlyError) -> APIError:
    """The HTTP error for an ExpertlyError: the model or its endpoint failing is the
    server's side (502, 504 when out of time), anything else the request's (400), including
    a question or ``max_tokens`` too long for the model's context window."""
    if isinstance(exc, ContextLengthError):  # OpenAI's code for a prompt over the window
        return APIError(400, str(exc), param="max_tokens", code="context_length_exceeded")
    if isinstance(exc, ExpertlyTimeout):
        return APIError(504, str(exc), code="timeout")
    if isinstance(exc, LLMError):
        return APIError(502, str(exc), code="model_error")
    return APIError(400, str(exc), code="expertly_error")


def unsupported(param: str, why: str) -> APIError:
    """A 400 refusing the request parameter ``param`` by name."""
    return APIError(
        400,
        f"The parameter '{param}' is not supported by expertly: {why}",
        param=param,
        code="unsupported_parameter",
    )


def install(app: FastAPI) -> None:
    """Answer every error in OpenAI's shape."""

    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(ExpertlyError)
    async def expertly_error(_: Request, exc: ExpertlyError) -> JSONResponse:
        return from_expertly(exc).response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(where) or None
        message = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            message = "The request body is not valid JSON."
        text = f"{param}: {message}" if param else message
        return APIError(400, text, param=param, code="invalid_value").response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        code = {413: "request_too_large", 404: "not_found", 405: "method_not_allowed"}
        body = error_body(exc.status_code, str(exc.detail), code=code.get(exc.status_code))
        return JSONResponse(body, exc.status_code, headers=headers)
