from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    name = "treatments"
    verbose_name = "Treatments"

    def ready(self):
        from . import cache, revisions  # noqa: F401  (connect the page cache's purge; register with reversion)
