"""Speed, behind one wall: the query of a key check, compiled once instead of per request.

For every check, Django's ORM builds `get_usable_keys().filter(lookup_id=...)` anew and
compiles it to SQL, which costs more than running it (bench/README.md has the figures: it is
the largest cost of a keyed request). Where the manager has the stock rules
(`BaseAPIKeyManager.has_stock_rules`: nothing that decides which keys are usable is overridden,
so the query is the same on every call but for the lookup id), `find_usable_key` compiles that
query once per manager class and database, then runs its SQL with the lookup id, and makes the
row a model instance as the ORM does (the backend's converters, then `from_db`). Any other
manager, and every manager with API_KEYS["COMPILED_LOOKUP"] = False, goes through
`manager.find_usable_key`, the ORM's way, with the same answers (the tests compare the two).

Every call queries the database, so a key whose access is removed is refused by the next check
as before. Only the SQL text, column names and converter functions are kept between requests:
never a key, a row or a connection.
"""

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.db import connections

from .settings import api_keys_settings

_Key = TypeVar("_Key")
_Found = TypeVar("_Found", covariant=True)
_LOOKUP_ID = "\x00lookup id\x00"  # stands for the lookup id while the query is compiled


class StockManager(Protocol[_Found]):
    """What this module uses of a manager (BaseAPIKeyManager is one)."""

    @property
    def model(self) -> Any: ...

    @property
    def db(self) -> str: ...

    @property
    def has_stock_rules(self) -> bool: ...

    def get_usable_keys(self) -> Any: ...

    def find_usable_key(self, lookup_id: str) -> _Found | None: ...

    def usable_key_query(self, lookup_id: str) -> Any: ...


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: list[Any]
    lookup_id_at: int  # where the lookup id goes in `params`
    attnames: list[str]  # the model's fields, the first columns
    annotations: list[str]  # then what the query reads beside them (the parent's state)
    converters: list[tuple[int, list[Any], Any]]  # (column, its converters, its expression)


_compiled: dict[tuple[type, str], _Compiled | None] = {}


def find_usable_key(manager: StockManager[_Key], lookup_id: str) -> _Key | None:
    """`manager.find_usable_key(lookup_id)`, with the query compiled once where it can be."""
    if not api_keys_settings().compiled_lookup or not manager.has_stock_rules:
        return manager.find_usable_key(lookup_id)
    alias = manager.db
    if (type(manager), alias) not in _compiled:
        _compiled[(type(manager), alias)] = _compile(manager, alias)
    if (compiled := _compiled[(type(manager), alias)]) is None:
        return manager.find_usable_key(lookup_id)
    params = list(compiled.params)
    params[compiled.lookup_id_at] = lookup_id
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for position, functions, expression in compiled.converters:
        for convert in functions:
            values[position] = convert(values[position], expression, connection)
    fields = len(compiled.attnames)
    found = manager.model.from_db(alias, compiled.attnames, values[:fields])
    for name, value in zip(compiled.annotations, values[fields:], strict=True):
        setattr(found, name, value)
    api_key: _Key | None = None if found.parent_refused else found  # as the manager judges
    return api_key


def _compile(manager: StockManager[Any], alias: str) -> _Compiled | None:
    """The SQL the ORM writes for the manager's `find_usable_key`, with its parameters."""
    queryset = manager.usable_key_query(_LOOKUP_ID)
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    columns = [column for column, _, _ in compiler.select]
    converters = [
        (position, functions, expression)
        for position, (functions, expression) in compiler.get_converters(columns).items()
    ]
    fields = compiler.klass_info["select_fields"]
    annotations = sorted(compiler.annotation_col_map, key=compiler.annotation_col_map.__getitem__)
    at = [compiler.annotation_col_map[name] for name in annotations]
    if fields + at != list(range(len(columns))):  # not the model's fields, then annotations
        return None  # a query this module cannot turn into an object: the ORM's way
    attnames = [columns[position].target.attname for position in fields]
    lookup_id_at = list(params).index(_LOOKUP_ID)
    return _Compiled(sql, list(params), lookup_id_at, attnames, annotations, converters)
