"""`python manage.py refresh_publications [--page SLUG ...] [--all] [--full]`: refresh in the foreground.

Without ``--full`` each page gets the hourly schedule's pass: one search, and writes only if it found
something new (stored records are re-checked once a day per page).
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from publications.models import RefreshRun
from publications.refresh import make_client, refresh_page
from treatments.models import TreatmentPage


class Command(BaseCommand):
    help = "Refresh pages' publication lists from PubMed now, with a progress bar and a summary."

    def add_arguments(self, parser):
        parser.add_argument(
            "--page", action="append", default=[], metavar="SLUG", help="a page's slug or path"
        )
        parser.add_argument(
            "--all", dest="all_pages", action="store_true", help="every published page with a PubMed query"
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help='as "Refresh now": re-check stored records due for it, and record a run for every page',
        )

    def handle(self, *args, page, all_pages, full, **options):
        pages = self.pages(page, all_pages)
        failed, new = [], 0
        with make_client() as client:
            for treatment_page in tqdm(pages, desc="Refreshing", unit="page", disable=None, file=self.stderr):
                run = refresh_page(treatment_page, client=client, full=full)
                new += run.publications_new
                if run.status != RefreshRun.Status.OK:
                    failed.append(f"{treatment_page.path}: {run.status}: {run.error}")
        self.stdout.write(
            f"pages ok: {len(pages) - len(failed)}, failed: {len(failed)}; publications new: {new}"
        )
        for line in failed:
            self.stderr.write(line)
        if failed:
            raise CommandError(f"{len(failed)} of {len(pages)} pages failed to refresh.")

    def pages(self, slugs, all_pages):
        if bool(slugs) == bool(all_pages):
            raise CommandError("Name pages with --page SLUG (repeatable), or use --all.")
        if all_pages:
            return list(TreatmentPage.objects.published().with_query().select_related("section"))
        pages = []
        for slug in slugs:
            matches = TreatmentPage.objects.named(slug).select_related("section")
            if len(matches) != 1:
                found = "no page" if not matches else f"{len(matches)} pages (give the full path)"
                raise CommandError(f"--page {slug}: {found} with that slug.")
            pages.append(matches[0])
        return pages
