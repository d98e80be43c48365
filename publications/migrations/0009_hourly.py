"""Hourly refreshes: the schedule of 0002 turns hourly, and each page's last check is kept in PageCheck.

A pass that finds nothing new leaves no RefreshRun: PageCheck counts it and keeps its time. The
schedule stays in the database (django-celery-beat), editable in the admin; reversing this migration
turns it back to daily at 03:00 New York time.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

TASK_NAME = "Refresh publications of all published pages"
TASK = "publications.refresh_all_pages"
HOURLY = {"minute": "0", "hour": "*", "timezone": "America/New_York"}
DAILY_AT = {"minute": "0", "hour": "3", "timezone": "America/New_York"}  # 0002's


def _schedule(apps, at: dict) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        **at, day_of_week="*", day_of_month="*", month_of_year="*"
    )
    task, created = PeriodicTask.objects.get_or_create(
        name=TASK_NAME, defaults={"task": TASK, "crontab": crontab, "enabled": True}
    )
    if not created:
        task.crontab, task.interval, task.task = crontab, None, TASK
        task.save(update_fields=["crontab", "interval", "task"])
    # Beat reloads its schedule when this changes (what the admin's save does, through a signal).
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def make_hourly(apps, schema_editor):
    _schedule(apps, HOURLY)


def make_daily(apps, schema_editor):
    _schedule(apps, DAILY_AT)


class Migration(migrations.Migration):
    dependencies = [
        ("publications", "0008_refreshrun_diff"),
        ("treatments", "0009_webresource_unique_position_constraint"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="PageCheck",
            fields=[
                (
                    "page",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="refresh_check",
                        serialize=False,
                        to="treatments.treatmentpage",
                    ),
                ),
                (
                    "last_checked_at",
                    models.DateTimeField(help_text="The last refresh that asked PubMed and got an answer."),
                ),
                (
                    "last_changed_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The last refresh that changed the page's list or its entries.",
                        null=True,
                    ),
                ),
                (
                    "quiet_checks",
                    models.PositiveBigIntegerField(
                        default=0,
                        help_text="Refreshes that found nothing new since the last change (no run kept).",
                    ),
                ),
                (
                    "last_recheck_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The last daily re-check of the page's stored records.",
                        null=True,
                    ),
                ),
            ],
        ),
        migrations.RunPython(make_hourly, make_daily),
    ]
