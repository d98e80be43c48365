"""Run the fake E-utilities server by hand: `python -m tests.fakes.serve [--port N] [--query Q ...]`.

It answers every given query (by default the demo page's) with all the fixture articles, newest
PMID first, so `refresh_publications` can be tried end to end without reaching NCBI.
"""

import argparse
import json
import time
from pathlib import Path

from tests.fakes.eutils import FakeEutils

DEMO_PAGES = Path(__file__).resolve().parents[2] / "treatments" / "demo" / "pages.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--query", action="append", help="a PubMed query to answer (repeatable)")
    args = parser.parse_args()
    queries = args.query or [page["pubmed_query"] for page in json.loads(DEMO_PAGES.read_text())["pages"]]
    with FakeEutils(port=args.port) as fake:
        for query in queries:
            fake.set_search(query, sorted(fake.known_pmids, reverse=True))
        print(f"Fake E-utilities at {fake.base_url} answering {len(queries)} quer(ies); Ctrl-C stops it.")
        print(f"NCBI_EUTILS_URL={fake.base_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
