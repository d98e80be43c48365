"""`python manage.py check_links [--page SLUG]`: check web resources' links now, one line per link.

The same checker as the weekly run (``treatments.linkcheck``), and it records what it finds the same
way. Every link is checked, due or not. LINK_CHECK_ALLOW_PRIVATE=1 lets it reach loopback and
private addresses (local use, tests).
"""

from django.core.management.base import BaseCommand, CommandError

from treatments import linkcheck
from treatments.models import TreatmentPage, WebResource


class Command(BaseCommand):
    help = "Check the web resources' links now and print what each one answered."

    def add_arguments(self, parser):
        parser.add_argument(
            "--page",
            metavar="SLUG",
            help="Only this page's links: every page with this slug, whatever its section (or a path).",
        )

    def handle(self, *args, page=None, **options):
        links = WebResource.objects.select_related("page__section").order_by(
            "page__section__path", "page__slug", "position"
        )
        if page:
            pages = TreatmentPage.objects.named(page)
            if not pages.exists():
                raise CommandError(f'No page has the slug "{page}".')
            links = links.filter(page__in=pages)
        summary = linkcheck.check_resources(links, on_result=self.show)
        self.stderr.write(str(summary))

    def show(self, resource, outcome):
        label = outcome.status.upper()
        self.stdout.write(f"{label:<9}{resource.url}  {outcome.describe()}  (/{resource.page.path}/)")
