"""The flask-smorest Api: OpenAPI from the schemas, and one JSON error shape for every failure."""

from __future__ import annotations

import json

from flask import jsonify, request
from flask_smorest import Api as _Api
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

from ..core.errors import RuleViolation
from ..core.fields import ErrorSchema

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    500: "internal_error",
}


def error_response(status: int, message: str, fields: dict | None = None, code: str | None = None):
    body = {"error": {"code": code or _STATUS_CODES.get(status, "error"), "message": message,
                      "fields": fields or {}}}
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _flatten_webargs(messages: dict) -> dict:
    """webargs keys errors by location ({"json": {...}}); clients want the fields themselves."""
    out: dict = {}
    for location, errs in (messages or {}).items():
        if isinstance(errs, dict):
            out.update(errs)
        else:
            out[location] = errs
    return out


class Api(_Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        if not request.path.startswith("/api/"):
            return error  # pages get Flask's own (later: templated) error pages
        data = getattr(error, "data", None) or {}
        fields = _flatten_webargs(data.get("messages") or data.get("errors") or {})
        if error.code == 422:
            message = "输入有误，请检查标出的字段"
        elif error.code == 400:
            message = "请求格式错误（应为合法的JSON）"
        else:
            message = data.get("message") or error.description or error.name
        return error_response(error.code, message, fields)


api = Api()


class _SafeParser(FlaskParser):
    """JSON that the decoder chokes on in other ways (a 10,000-digit number, deep nesting) is a 400 too."""

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as exc:
            raise json.JSONDecodeError(f"invalid JSON: {type(exc).__name__}", "<body>", 0) from None


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = _SafeParser()


def api_blueprint(name: str, import_name: str, url_prefix: str, description: str) -> Blueprint:
    return ApiBlueprint(name, import_name, url_prefix="/api/v1" + url_prefix, description=description)


def if_match_version() -> int | None:
    """The version a client read, from ``If-Match: "3"`` (optimistic locking; a stale one loses with 409)."""

    raw = request.headers.get("If-Match")
    if not raw:
        return None
    raw = raw.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 9:
        raise RuleViolation("If-Match 应为版本号", {"If-Match": ["应为整数版本号"]})
    return int(raw)
