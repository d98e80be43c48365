"""Prune old refresh runs daily at 04:30 New York time, after the 03:00 refresh has had its hour.

Like the refresh schedule (0002), it lives in the database, so an administrator can change it.
"""

from django.db import migrations

TASK_NAME = "Prune old refresh runs"
DAILY_AT = {"minute": "30", "hour": "4", "timezone": "America/New_York"}


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        **DAILY_AT, day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "publications.prune_refresh_runs", "crontab": crontab, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("publications", "0004_scale_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
