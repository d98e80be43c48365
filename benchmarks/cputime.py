"""CPU time of this process and of its PostgreSQL backend, for the benchmarks' per-record and per-render
figures: on a shared machine they vary less than rates do."""

import os
import time
from pathlib import Path


def backend_cpu() -> float | None:
    """CPU seconds the database connection's PostgreSQL backend has used, if it runs on this machine."""
    from django.db import connection

    connection.ensure_connection()
    if connection.vendor != "postgresql":
        return None
    try:
        stat = Path(f"/proc/{connection.connection.info.backend_pid}/stat").read_text()
    except OSError:
        return None
    user, system = stat.rsplit(")", 1)[1].split()[11:13]
    return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")


def per_call(fn, times: int) -> tuple[float, float | None]:
    """Microseconds of CPU per call of ``fn``: this process's (all threads), and its PostgreSQL backend's
    (None off PostgreSQL, or with the server on another machine)."""
    fn()  # warm: compiled statements, prepared plans, memoised URLs
    server, cpu = backend_cpu(), time.process_time()
    for _ in range(times):
        fn()
    cpu, server_after = time.process_time() - cpu, backend_cpu()
    backend = None if server is None or server_after is None else (server_after - server) * 1e6 / times
    return cpu * 1e6 / times, backend
