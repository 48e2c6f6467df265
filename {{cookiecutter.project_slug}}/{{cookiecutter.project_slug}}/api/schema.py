"""OpenAPI additions: every protected operation documents the error answers it can give."""

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object"},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
ERRORS = {
    "401": "No key, or a malformed, unknown, revoked or expired one.",
    "403": "The key lacks a scope or a permission this operation requires.",
    "429": "Too many requests with this key; retry after `Retry-After` seconds.",
    "503": "The service is unavailable; retry after `Retry-After` seconds.",
}


def document_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the shared error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not any(operation.get("security", [])):  # [{}]: open to all
                continue
            for status, description in ERRORS.items():
                content = {"application/json": {"schema": reference}}
                operation["responses"].setdefault(
                    status, {"description": description, "content": content}
                )
    return result
