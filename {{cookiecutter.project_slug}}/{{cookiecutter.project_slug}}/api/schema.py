"""OpenAPI postprocessing: every operation documents the error answers it can give and, where a
key is counted, the RateLimit headers; `nullable` is spelled the OpenAPI 3.1 way."""

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
    "403": "The key lacks a scope or a permission this operation requires (`missing_scope`), "
    "may not be used from the client's address (`ip_not_allowed`), or is a child key, which "
    "cannot mint keys (`child_key`), or has as many children as it may (`too_many_children`).",
    "429": "Too many requests with this key (`throttled`), or its quota for the period is used "
    "up (`quota_exceeded`); retry after `Retry-After` seconds.",
    "503": "The service is unavailable; retry after `Retry-After` seconds.",
}
# The key's tighter limit, its rate or its quota (draft-ietf-httpapi-ratelimit-headers), on
# every answer to a request the key's limits counted.
RATELIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": 'The limit: `"throttle";q=1000;w=60` (1,000 requests a minute) or '
        '`"quota";q=10000;w=2592000` (10,000 in this calendar month, 30 days long), in UTC.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it: `"quota";r=9876;t=86400`, requests remaining and '
        "seconds until the period ends.",
        "schema": {"type": "string"},
    },
}
# Every answer (api/middleware.py), and first of all those that carry a new key.
NO_STORE = {
    "Cache-Control": {
        "description": "`no-store`: no cache may keep the answer. An answer with a new key in "
        "`key` is the only time the key is shown.",
        "schema": {"type": "string", "enum": ["no-store"]},
    }
}
# Where a request has a body, a serializer validates it: 400 with `fields` saying what is wrong.
INVALID_BODY = {"400": "The request is not valid: `error.fields` names each field and why."}
# CursorPagination answers 404 to a cursor it did not give out.
UNKNOWN_CURSOR = {"404": "No such page: the `cursor` is not one this API gave out."}
# Other query parameters are validated too, and a path's parameters name what may not exist.
INVALID_QUERY = {"400": "A query parameter is not valid: `error.fields` names it and why."}
NOT_FOUND = {"404": "Nothing this key may see answers to the path."}


def document_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the shared error responses."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components.setdefault("headers", {}).update(RATELIMIT_HEADERS | NO_STORE)
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in RATELIMIT_HEADERS}
    no_store = {"Cache-Control": {"$ref": "#/components/headers/Cache-Control"}}
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
            if in_query - {"cursor"}:
                errors.update(INVALID_QUERY)
            if any(param.get("in") == "path" for param in parameters):
                errors.update(NOT_FOUND)
            if "requestBody" in operation:
                errors.update(INVALID_BODY)
            for status, description in errors.items():
                operation["responses"].setdefault(status, {"description": description})
            for status, response in operation["responses"].items():
                if status[0] in "45" and "content" not in response:  # a view's own, described
                    response["content"] = {"application/json": {"schema": reference}}
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    response.setdefault("headers", {}).update(no_store)
            if any(operation.get("security", [])):
                for status, response in operation["responses"].items():
                    if status.startswith("2") or status == "429":
                        response.setdefault("headers", {}).update(headers)
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
