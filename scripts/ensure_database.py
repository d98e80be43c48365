"""Create the PostgreSQL database that DATABASE_URL names, if it does not exist yet (`make stack`)."""

import os
import sys

import environ
import psycopg
from psycopg import sql


def main() -> None:
    db = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    if "postgresql" not in db["ENGINE"]:
        return
    server = {key: db[key.upper()] for key in ("host", "port", "user", "password") if db[key.upper()]}
    try:
        psycopg.connect(dbname=db["NAME"], **server).close()
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            sys.exit(f"Cannot connect to the database: {exc}")
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        print(f"Created database {db['NAME']}")


if __name__ == "__main__":
    main()
