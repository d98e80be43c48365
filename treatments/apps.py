from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    name = "treatments"
    verbose_name = "Treatments"

    def ready(self):
        from . import revisions  # noqa: F401  (registers the models with django-reversion, connects receivers)
