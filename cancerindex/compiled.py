"""A queryset's SQL built once per process, then run with each request's values.

Building and compiling a queryset can cost more than the database takes to run it: the treatment
page's related-pages query spent about 2 ms in the ORM for a fraction of that in PostgreSQL, on
every request, to produce the same statement. A hot query whose shape never changes is built here
once with stand-in values, and each call swaps the real values into the compiled parameters.

Only values that reach the SQL as parameters (an exact or ``in`` lookup's right-hand side) can be
stand-ins; anything that shapes the statement (a LIMIT, a column, a lookup that rewrites its value
such as ``startswith``) goes in ``shape`` and gets its own compiled copy. A stand-in that does not
come through to the parameters unchanged fails loudly on the first call, never silently.
"""

import functools
import itertools
import json
from collections.abc import Callable
from typing import NamedTuple

from django.db import connections, router

_numbers = itertools.count(1)


def _stand_in(name: str, value):
    """A value of ``value``'s type that no real row or argument ever has."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name}: only int and str values can be swapped in, not {type(value).__name__}")
    number = next(_numbers)
    # In a 32-bit column's range: Django drops a lookup whose value no such column can hold.
    return -2_000_000_000 - number if isinstance(value, int) else f"\x00stand-in {number} for {name}"


class _Statement(NamedTuple):
    sql: str
    slots: tuple  # per parameter: the name of the value swapped in, or a _Fixed one
    converters: tuple  # (column index, the field's converters, column)
    columns: tuple  # the selected columns' aliases, in order
    types: tuple  # and their fields' internal types ("IntegerField")


@functools.lru_cache(maxsize=256)
def _compile(build: Callable, shape: tuple, kinds: tuple, alias: str) -> _Statement:
    stand_ins = {name: _stand_in(name, kind()) for name, kind in kinds}
    queryset = build(*shape, **stand_ins)
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    names = {value: name for name, value in stand_ins.items()}
    missing = set(stand_ins.values()) - {param for param in params if _hashable(param)}
    if missing:
        lost = sorted(names[value] for value in missing)
        raise ValueError(f"{build.__qualname__}: {lost} did not reach the statement's parameters unchanged")
    slots = tuple(names.get(param, _Fixed(param)) if _hashable(param) else _Fixed(param) for param in params)
    # The fields' own conversions (a date from SQLite's text, JSON decoded), as the ORM would run them.
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    return _Statement(
        sql,
        slots,
        tuple((index, functions, column) for index, (functions, column) in converters.items()),
        tuple(column_alias for _, _, column_alias in compiler.select),
        tuple(column.output_field.get_internal_type() for column, _, _ in compiler.select),
    )


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class _Fixed:
    """A parameter the statement always has (a constant of the queryset), kept as compiled."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def rows(build: Callable, *shape, model=None, **values) -> list[tuple]:
    """The rows of ``build(*shape, **values)`` (a ``values_list`` queryset), compiled once per shape.

    Each column is converted as the ORM would (dates, JSON). ``model`` picks the database by the read
    router; without it, the default one.
    """
    kinds, alias = _kinds(values), _alias(model)
    sql, params, converters, *_ = _compile(build, shape, kinds, alias)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, _arguments(params, values))
        found = cursor.fetchall()
    if not converters:
        return found
    return [_converted(row, converters, connection) for row in found]


def row_sets(*statements: tuple, model=None, **values) -> list[list[tuple]]:
    """The rows of several statements (each a ``(build, *shape)`` as ``rows`` takes them, sharing
    ``values``), fetched in one round trip: one SELECT of a JSON array per statement.

    Each query cost our process about 0.1 ms whatever it returned (psycopg and Django), and PostgreSQL
    a statement's overhead; a page's small lists (tags, links, related pages) now cost one. Each
    statement's rows keep its ORDER BY: the JSON is aggregated from the sorted statement, with nothing
    else in that SELECT (no join, no ORDER BY of its own, which would let the database drop the
    statement's; PostgreSQL and SQLite keep it for this shape, tests check both). Only numbers
    and text travel as JSON unchanged: a column of any other type (a date, a boolean) is refused when
    the statement is compiled.
    """
    kinds, alias = _kinds(values), _alias(model)
    sql, params, converters = _compile_together(statements, kinds, alias)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, _arguments(params, values))
        found = cursor.fetchone()
    sets = []
    for rows, converting in zip(found, converters, strict=True):
        rows = json.loads(rows) if isinstance(rows, str) else rows
        sets.append([_converted(row, converting, connection) if converting else tuple(row) for row in rows])
    return sets


# One statement's rows as a JSON array of arrays, aggregated from the statement in its order.
_JSON_ROWS = {
    "postgresql": "(SELECT COALESCE(json_agg(json_build_array({columns})), '[]') FROM ({sql}) {name})",
    "sqlite": "(SELECT COALESCE(json_group_array(json_array({columns})), '[]') FROM ({sql}) {name})",
}


# What JSON carries as the database returns it: numbers and text.
_JSON_TYPES = frozenset(
    {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField",
     "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField", "CharField",
     "TextField", "SlugField", "URLField", "EmailField"}
)  # fmt: skip


@functools.lru_cache(maxsize=64)
def _compile_together(statements: tuple, kinds: tuple, alias: str) -> tuple[str, tuple, tuple]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    parts, slots, converters = [], [], []
    for number, (build, *shape) in enumerate(statements):
        statement = _compile(build, tuple(shape), kinds, alias)
        if other := [
            c for c, kind in zip(statement.columns, statement.types, strict=True) if kind not in _JSON_TYPES
        ]:
            raise TypeError(f"{build.__qualname__}: JSON cannot carry {other} as the database returns them")
        name = f"_rows{number}"
        columns = ", ".join(f"{name}.{quote(column)}" for column in statement.columns)
        parts.append(_JSON_ROWS[connection.vendor].format(columns=columns, sql=statement.sql, name=name))
        slots.extend(statement.slots)
        converters.append(statement.converters)  # a number's own (an int from a COUNT), as the ORM runs them
    return "SELECT " + ", ".join(parts), tuple(slots), tuple(converters)


def _kinds(values: dict) -> tuple:
    return tuple(sorted((name, type(value)) for name, value in values.items()))


def _alias(model) -> str:
    return router.db_for_read(model) if model is not None else "default"


def _arguments(params: tuple, values: dict) -> list:
    return [param.value if isinstance(param, _Fixed) else values[param] for param in params]


def _converted(row, converters, connection) -> tuple:
    row = list(row)
    for index, functions, column in converters:
        for function in functions:
            row[index] = function(row[index], column, connection)
    return tuple(row)
