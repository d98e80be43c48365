"""The default schedule: refresh every published page daily at 03:00 New York time, off NCBI's peak.

It lives in the database (django-celery-beat), so an administrator can change it in the admin.
"""

from django.db import migrations

TASK_NAME = "Refresh publications of all published pages"
DAILY_AT = {"minute": "0", "hour": "3", "timezone": "America/New_York"}


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        **DAILY_AT, day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "publications.refresh_all_pages", "crontab": crontab, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("publications", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
