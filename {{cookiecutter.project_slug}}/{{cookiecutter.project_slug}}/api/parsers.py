"""The API's request parsers."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class NestingSafeJSONParser(JSONParser):
    """DRF's JSON parser, with JSON nested deeper than Python can read answered 400, as any
    other body that is not JSON, rather than a 500 (DRF catches ValueError only)."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().parse(*args, **kwargs)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
