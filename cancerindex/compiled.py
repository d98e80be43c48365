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
from datetime import date, datetime
from typing import NamedTuple

from django.db import connections, router

_numbers = itertools.count(1)


def _stand_in(name: str, value):
    """A value of ``value``'s type that no real row or argument ever has."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name}: only int and str values can be swapped in, not {type(value).__name__}")
    number = next(_numbers)
    # In a 32-bit column's range: Django drops a lookup whose value no such column can hold.
    return -2_000_000_000 - number if isinstance(value, int) else f"{_STAND_IN} {number} for {name}"


_STAND_IN = "\x00stand-in"


class _Statement(NamedTuple):
    sql: str
    slots: tuple  # per parameter: the name of the value swapped in, or a _Fixed one
    converters: tuple  # (column index, the field's converters, column)
    columns: tuple  # the selected columns' aliases, in order
    types: tuple  # and their fields' internal types ("IntegerField")


@functools.lru_cache(maxsize=256)
def _compile(build: Callable, shape: tuple, kinds: tuple, alias: str, every_value: bool = True) -> _Statement:
    stand_ins = {name: _stand_in(name, kind()) for name, kind in kinds}
    queryset = build(*shape, **stand_ins)
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    names = {value: name for name, value in stand_ins.items()}
    missing = set(stand_ins.values()) - {param for param in params if _hashable(param)}
    if missing and every_value:  # in ``row_sets``, each value need only reach one of the statements
        lost = sorted(names[value] for value in missing)
        raise ValueError(f"{build.__qualname__}: {lost} did not reach the statement's parameters unchanged")
    slots = tuple(names.get(param, _Fixed(param)) if _hashable(param) else _Fixed(param) for param in params)
    fixed = [slot.value for slot in slots if isinstance(slot, _Fixed)]
    if rewritten := [value for value in fixed if _STAND_IN in str(value)]:
        raise ValueError(f"{build.__qualname__}: the ORM rewrote a stand-in ({rewritten}); pass it in shape")
    # The fields' own conversions (a date from SQLite's text, JSON decoded), as the ORM would run them.
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    return _Statement(
        sql,
        slots,
        tuple((index, functions, column) for index, (functions, column) in converters.items()),
        tuple(column_alias for _, _, column_alias in compiler.select),
        tuple(_internal_type(column.output_field) for column, _, _ in compiler.select),
    )


def _internal_type(field) -> str:
    """A column's type: a foreign key's is that of the key it holds."""
    while getattr(field, "target_field", None) is not None and field.is_relation:
        field = field.target_field
    return field.get_internal_type()


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
    statement's; PostgreSQL and SQLite keep it for this shape, tests check both). Numbers, text and
    booleans travel as JSON; dates and times as ISO text, read back here before the fields' own
    conversions run. A column of any other type (a decimal, JSON, a UUID) is refused when the
    statement is compiled, so nothing comes back changed.
    """
    kinds, alias = _kinds(values), _alias(model)
    sql, params, readers = _compile_together(statements, kinds, alias)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, _arguments(params, values))
        found = cursor.fetchone()
    sets = []
    for rows, (parsing, converting) in zip(found, readers, strict=True):
        rows = json.loads(rows) if isinstance(rows, str) else rows
        if parsing:
            rows = [_parsed(row, parsing) for row in rows]
        sets.append([_converted(row, converting, connection) if converting else tuple(row) for row in rows])
    return sets


# One statement's rows as a JSON array of arrays, aggregated from the statement in its order.
_JSON_ROWS = {
    "postgresql": "(SELECT COALESCE(json_agg(json_build_array({columns})), '[]') FROM ({sql}) {name})",
    "sqlite": "(SELECT COALESCE(json_group_array(json_array({columns})), '[]') FROM ({sql}) {name})",
}


# What JSON carries as the database returns it: numbers, text and booleans (SQLite's 0 and 1 are
# turned into booleans by its converter, as for any query).
_JSON_TYPES = frozenset(
    {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField",
     "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField", "CharField",
     "TextField", "SlugField", "URLField", "EmailField", "BooleanField"}
)  # fmt: skip
# What JSON carries as ISO text ("2026-11-25", "2026-11-25T10:00:00+00:00" or SQLite's
# "2026-11-25 10:00:00"), read back into what the database's own driver returns.
_ISO_TYPES = {"DateField": date.fromisoformat, "DateTimeField": datetime.fromisoformat}


@functools.lru_cache(maxsize=64)
def _compile_together(statements: tuple, kinds: tuple, alias: str) -> tuple[str, tuple, tuple]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    parts, slots, readers = [], [], []
    for number, (build, *shape) in enumerate(statements):
        statement = _compile(build, tuple(shape), kinds, alias, every_value=False)
        typed = tuple(zip(statement.columns, statement.types, strict=True))
        if other := [column for column, kind in typed if kind not in _JSON_TYPES and kind not in _ISO_TYPES]:
            raise TypeError(f"{build.__qualname__}: JSON cannot carry {other} as the database returns them")
        name = f"_rows{number}"
        columns = ", ".join(f"{name}.{quote(column)}" for column in statement.columns)
        parts.append(_JSON_ROWS[connection.vendor].format(columns=columns, sql=statement.sql, name=name))
        slots.extend(statement.slots)
        parsing = tuple(
            (index, _ISO_TYPES[kind]) for index, (_, kind) in enumerate(typed) if kind in _ISO_TYPES
        )
        # Then each field's own conversions (SQLite's dates and booleans, an int from a COUNT), as the ORM's.
        readers.append((parsing, statement.converters))
    # Every value must reach one statement or another (each statement takes those it needs).
    used = {slot for slot in slots if isinstance(slot, str)}
    if lost := sorted({name for name, _ in kinds} - used):
        raise ValueError(f"{[build.__qualname__ for build, *_ in statements]}: {lost} reached no statement")
    return "SELECT " + ", ".join(parts), tuple(slots), tuple(readers)


def _kinds(values: dict) -> tuple:
    return tuple(sorted((name, type(value)) for name, value in values.items()))


def _alias(model) -> str:
    return router.db_for_read(model) if model is not None else "default"


def _arguments(params: tuple, values: dict) -> list:
    return [param.value if isinstance(param, _Fixed) else values[param] for param in params]


def _parsed(row, parsing) -> list:
    row = list(row)
    for index, parse in parsing:
        if row[index] is not None:
            row[index] = parse(row[index])
    return row


def _converted(row, converters, connection) -> tuple:
    row = list(row)
    for index, functions, column in converters:
        for function in functions:
            row[index] = function(row[index], column, connection)
    return tuple(row)
