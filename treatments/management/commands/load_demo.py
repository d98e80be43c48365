"""`python manage.py load_demo`: the Interleukin 2 page as readers know it. Safe to run again.

It only creates what is missing: a section or page that exists (perhaps edited since) is left as
it is, so `make run` and `make stack` never undo an editor's work.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from publications.demo import load_demo_list
from treatments import importer, paths

DEMO_PAGES = Path(__file__).resolve().parents[2] / "demo" / "pages.json"


class Command(BaseCommand):
    help = "Load the demo content: sections, the Interleukin 2 page, its links and publication list."

    def handle(self, *args, **options):
        data = missing_only(importer.load(DEMO_PAGES))
        try:
            summary = importer.apply(data, source="the demo content (load_demo)")
        except importer.InvalidImport as exc:
            raise CommandError("The demo file is invalid:\n" + "\n".join(exc.errors)) from exc
        self.stdout.write(f"created: {summary}")
        result = load_demo_list()
        if result.loaded:
            self.stdout.write(f"{result.page}: {result.loaded} publications loaded.")
        else:
            self.stdout.write(f"{result.page}: publication list left as it is ({result.skipped_reason}).")
        self.stdout.write(self.style.SUCCESS(f"Demo content ready at {result.page.get_absolute_url()}"))


def missing_only(data: dict) -> dict:
    """The demo's sections and pages that do not exist yet."""
    existing_sections = paths.sections_at(s["path"] for s in data["sections"])
    existing_pages = paths.pages_at(paths.page_path(p["section"], p["slug"]) for p in data["pages"])
    return {
        "sections": [s for s in data["sections"] if s["path"] not in existing_sections],
        "pages": [p for p in data["pages"] if paths.page_path(p["section"], p["slug"]) not in existing_pages],
    }
