"""`python manage.py import_pages FILE.json`: create or update sections, pages and web resources.

The work is in ``treatments.importer`` (shared with load_demo and the tests); this only reports.
"""

from django.core.management.base import BaseCommand, CommandError

from treatments import importer


class Command(BaseCommand):
    help = "Create or update sections, treatment pages and their web resources from a JSON file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The JSON file to import.")
        parser.add_argument("--check", action="store_true", help="Only validate the file; change nothing.")

    def handle(self, *args, file, check, **options):
        try:
            data = importer.load(file)
            if check:
                if errors := importer.validate(data):
                    raise importer.InvalidImport(errors)
                self.stdout.write(self.style.SUCCESS(f"{file}: valid"))
                return
            summary = importer.apply(data)
        except importer.ImportFileError as exc:
            raise CommandError(str(exc)) from None
        except importer.InvalidImport as exc:
            for error in exc.errors:  # one per line, so an editor can fix the file in one pass
                self.stderr.write(error)
            raise CommandError(f"{file}: {len(exc.errors)} error(s), nothing imported") from None
        self.stdout.write(self.style.SUCCESS(str(summary)))
