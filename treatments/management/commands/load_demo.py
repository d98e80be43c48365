"""`python manage.py load_demo`: the Interleukin 2 page as readers know it. Safe to run again."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from publications.demo import load_demo_list
from treatments import importer

DEMO_PAGES = Path(__file__).resolve().parents[2] / "demo" / "pages.json"


class Command(BaseCommand):
    help = "Load the demo content: sections, the Interleukin 2 page, its links and publication list."

    def handle(self, *args, **options):
        data = importer.load(DEMO_PAGES)
        errors = importer.validate(data)
        if errors:
            raise CommandError("The demo file is invalid:\n" + "\n".join(errors))
        summary = importer.apply(data)
        self.stdout.write(str(summary))
        result = load_demo_list()
        if result.loaded:
            self.stdout.write(f"{result.page}: {result.loaded} publications loaded.")
        else:
            self.stdout.write(f"{result.page}: publication list left as it is ({result.skipped_reason}).")
        self.stdout.write(self.style.SUCCESS(f"Demo content ready at {result.page.get_absolute_url()}"))
