"""The publishing schedule: every minute, publish and unpublish the pages whose time has come.

It lives in the database (django-celery-beat), like the daily refresh, so an administrator can see
and change it in the admin. Each run is stale after a minute: the next one does the same work.
"""

from django.db import migrations

TASK_NAME = "Publish and unpublish scheduled pages"
TASK = "treatments.run_publishing_schedule"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": TASK, "interval": every_minute, "enabled": True, "expire_seconds": 60},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    # After 0005_page_revisions, not beside it: two leaves would stop `migrate`.
    dependencies = [
        ("treatments", "0005_page_revisions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
