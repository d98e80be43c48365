from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The editors' dashboard on the admin's index: what needs attention, and recent changes."""

    name = "dashboard"
    verbose_name = "Dashboard"
