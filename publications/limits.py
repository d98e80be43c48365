"""Whether a parsed PubMed record fits the database, checked before anything is written.

One odd record (a DOI of 400 characters, a PMID past 2^63, a NUL character) would otherwise make
the whole batch's INSERT fail. The refresh skips such a record and reports it; the rest are stored.
The rules are the model's own (max_length, integer ranges), read from ``Publication._meta``.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db.backends.base.operations import BaseDatabaseOperations

from .models import Publication
from .pubmed import PubmedRecord


def record_problems(record: PubmedRecord) -> list[str]:
    """What in ``record`` the database would refuse, in words; empty if it fits."""
    row = Publication.from_record(record)
    row.normalize()
    problems = []
    for field in Publication._meta.concrete_fields:
        value = getattr(row, field.attname)
        if value is None or field.primary_key:
            continue
        name = field.verbose_name
        if isinstance(value, list | dict):
            if "\\u0000" in json.dumps(value):  # PostgreSQL's jsonb refuses the NUL character
                problems.append(f"{name} contains a NUL character")
            continue
        if isinstance(value, str) and "\x00" in value:
            problems.append(f"{name} contains a NUL character")
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            # The standard SQL ranges, whatever this database's backend would let through (SQLite).
            low, high = BaseDatabaseOperations.integer_field_ranges.get(
                field.get_internal_type(), (None, None)
            )
            if (low is not None and value < low) or (high is not None and value > high):
                problems.append(f"{name}: {value} is outside {low}..{high}")
                continue
        try:
            field.run_validators(value)
        except ValidationError as exc:
            problems.append(f"{name}: {' '.join(exc.messages)}")
    return problems
