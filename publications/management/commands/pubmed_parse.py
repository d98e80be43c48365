"""Parse saved PubMed efetch XML and print what the parser makes of it, one JSON record a line.

For checking a response by hand (what would the refresh store?) without touching the database.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from publications.pubmed import EutilsError, parse_efetch


class Command(BaseCommand):
    help = "Parse PubMed efetch XML files: records as JSON lines to stdout, problems and deletions to stderr."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE.xml")
        parser.add_argument("--with-source", action="store_true", help="include each article's source XML")

    def handle(self, *args, files, with_source, **options):
        for path in files:
            try:
                result = parse_efetch(path.read_bytes())
            except (OSError, EutilsError) as exc:  # a parse error, or a file over the size limit
                raise CommandError(f"{path}: {exc}") from exc
            for record in result.records:
                data = record.as_json()
                if not with_source:
                    del data["source_xml"]
                self.stdout.write(json.dumps(data, ensure_ascii=False))
            for problem in result.problems:
                pmid = problem.pmid or "unknown"
                self.stderr.write(f"{path}: skipped article (PMID {pmid}): {problem.message}")
            for pmid in result.deleted_pmids:
                self.stderr.write(f"{path}: deleted PMID {pmid}")
