"""Django's PostgreSQL backend, with a health check that costs no round trip.

``CONN_HEALTH_CHECKS`` makes Django ask a kept connection ``SELECT 1`` before each request's first
query, so a connection the server dropped (a restart, ``pg_terminate_backend``, an idle timeout) is
replaced instead of failing a reader's request. That round trip was one of a treatment page's five,
a tenth of its CPU. A server that drops a connection says so first (a FATAL message, then the close),
so the socket turns readable: an idle connection whose socket has nothing to read is still usable.
Only when something has arrived (that goodbye, or a harmless notice) is ``SELECT 1`` asked as before.

It also lets psycopg remember the conversion of longer statements (``STATEMENT_CACHE_LENGTH``).
"""

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg import _queries, pq

# psycopg turns a statement's %s placeholders into $1, $2... once per distinct statement and remembers
# it, but only for statements up to 4,096 bytes, to keep an ORM's one-off bulk INSERTs out of its
# memory (128 statements). The treatment page's tags, links and related pages are one statement of
# 4.7 KB, compiled once per process (``cancerindex.compiled``), which it converted again on every
# request: 4% of an uncached page's instructions. 16 KB takes in every statement a page runs; a bulk
# INSERT of a batch is far longer, or has more than 50 parameters, and is still left out. The name is
# psycopg's (pinned in requirements.txt); tests/test_database.py fails if it ever goes.
STATEMENT_CACHE_LENGTH = 16_384
_queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, STATEMENT_CACHE_LENGTH)


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()
        poller = select.poll()  # not select(): it refuses a descriptor above 1023
        try:
            poller.register(connection.pgconn.socket, select.POLLIN)
            events = poller.poll(0)
        except (OSError, ValueError, psycopg.OperationalError):  # no socket any more
            return False
        return super().is_usable() if events else True
