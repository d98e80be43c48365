from django.apps import AppConfig


class SearchConfig(AppConfig):
    """Readers' search over published pages and the publications they list (README: Search)."""

    name = "search"
    verbose_name = "Search"
