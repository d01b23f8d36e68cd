"""Typed domain errors with stable codes. One handler in ``web.errors`` maps them to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class RuleViolation(DomainError):
    """Input well formed but against a rule of the domain (HTTP 422)."""

    status = 422
    code = "rule_violation"
