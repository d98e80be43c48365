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
from collections.abc import Callable

from django.db import connections, router

_numbers = itertools.count(1)


def _stand_in(name: str, value):
    """A value of ``value``'s type that no real row or argument ever has."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name}: only int and str values can be swapped in, not {type(value).__name__}")
    number = next(_numbers)
    # In a 32-bit column's range: Django drops a lookup whose value no such column can hold.
    return -2_000_000_000 - number if isinstance(value, int) else f"\x00stand-in {number} for {name}"


@functools.lru_cache(maxsize=256)
def _compile(build: Callable, shape: tuple, kinds: tuple, alias: str):
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
    return sql, slots, tuple((index, functions, column) for index, (functions, column) in converters.items())


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
    kinds = tuple(sorted((name, type(value)) for name, value in values.items()))
    alias = router.db_for_read(model) if model is not None else "default"
    sql, params, converters = _compile(build, shape, kinds, alias)
    arguments = [param.value if isinstance(param, _Fixed) else values[param] for param in params]
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, arguments)
        found = cursor.fetchall()
    if not converters:
        return found
    return [_converted(row, converters, connection) for row in found]


def _converted(row, converters, connection) -> tuple:
    row = list(row)
    for index, functions, column in converters:
        for function in functions:
            row[index] = function(row[index], column, connection)
    return tuple(row)
