"""Parsed records held between a refresh's download and its write, off the heap once there are many.

A refresh downloads every record before it writes any (the old list stays whole if the download
fails). Held as objects, they took a worker's memory with every record (249 MB at 2,000); here each
record is pickled as it arrives into a temporary file that stays in memory up to ``MEMORY_BYTES`` and
goes to disk beyond, and is read back one at a time while it is stored.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator

from .pubmed import PubmedRecord

MEMORY_BYTES = 8 * 1024 * 1024  # an ordinary refresh (a few hundred records) never touches the disk


class RecordSpool:
    """An append-only sequence of records: ``append``, ``len``, iterate (as often as needed, one
    iteration at a time), ``close``.

    The file is the process's own (never shared, unlinked as it is made), so unpickling it is safe.
    """

    def __init__(self, records=(), *, memory_bytes: int | None = None) -> None:
        size = MEMORY_BYTES if memory_bytes is None else memory_bytes
        # Closed by close() (the refresh's), or with the spool.
        self._file = tempfile.SpooledTemporaryFile(max_size=size, prefix="cancerindex-records-")  # noqa: SIM115
        self._count = 0
        self.pmids: set[int] = set()
        for record in records:
            self.append(record)

    def append(self, record: PubmedRecord) -> None:
        self._file.seek(0, 2)  # after a read: back to the end
        pickle.dump(record, self._file, protocol=pickle.HIGHEST_PROTOCOL)  # each record a pickle of its own
        self._count += 1
        self.pmids.add(record.pmid)

    def __len__(self) -> int:
        return self._count

    def flush(self) -> None:
        """Write out what is buffered: a full disk says so here, once the download is done, not while
        the records are stored."""
        self._file.flush()

    def __iter__(self) -> Iterator[PubmedRecord]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self._count):
            yield pickle.load(self._file)  # noqa: S301 - our own file, written above

    @property
    def on_disk(self) -> bool:
        """Whether the records outgrew memory and went to a file."""
        return bool(getattr(self._file, "_rolled", False))

    def close(self) -> None:
        self._file.close()
