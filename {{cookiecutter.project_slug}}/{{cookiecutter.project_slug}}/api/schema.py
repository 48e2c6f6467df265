"""OpenAPI postprocessing: every operation documents the error answers it can give, and
`nullable` is spelled the OpenAPI 3.1 way."""

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
# Where a request has a body, a serializer validates it: 400 with `fields` saying what is wrong.
INVALID_BODY = {"400": "The request is not valid: `error.fields` names each field and why."}
# CursorPagination answers 404 to a cursor it did not give out.
UNKNOWN_CURSOR = {"404": "No such page: the `cursor` is not one this API gave out."}


def document_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the shared error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            errors = {}
            if any(operation.get("security", [])):  # [{}]: open to all
                errors.update(ERRORS)
            parameters = operation.get("parameters", [])
            in_query = {param["name"] for param in parameters if param.get("in") == "query"}
            if "cursor" in in_query:
                errors.update(UNKNOWN_CURSOR)
            if "requestBody" in operation:
                errors.update(INVALID_BODY)
            for status, description in errors.items():
                content = {"application/json": {"schema": reference}}
                operation["responses"].setdefault(
                    status, {"description": description, "content": content}
                )
    return result


def spell_nullable_as_3_1(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: OpenAPI 3.1 has no `nullable`; a schema that may be
    null lists "null" among its types. DRF's paginators still write `nullable: true`."""

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            # A bool is the keyword; a property named "nullable" would have a schema as its value.
            nullable = isinstance(node.get("nullable"), bool) and node.pop("nullable")
            if nullable and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            for name, value in node.items():
                if name not in ("example", "examples"):  # data, not schemas
                    visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(result)
    return result
