"""The link checker: what each web resource's last check found, and its weekly run.

The schedule lives in the database (django-celery-beat), like the daily refresh, so an
administrator can see and change it in the admin under Periodic tasks.
"""

from django.db import migrations, models

TASK_NAME = "Check the web resources' links"
TASK = "treatments.check_links"
WEEKLY_AT = {"minute": "0", "hour": "2", "day_of_week": "0", "timezone": "Europe/London"}  # Sunday night


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(**WEEKLY_AT, day_of_month="*", month_of_year="*")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME, defaults={"task": TASK, "crontab": crontab, "enabled": True}
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0009_webresource_unique_position_constraint"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="webresource",
            name="broken_since",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When it first failed; cleared when it works again.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="webresource",
            name="last_checked_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="webresource",
            name="last_error",
            field=models.CharField(blank=True, editable=False, max_length=500),
        ),
        migrations.AddField(
            model_name="webresource",
            name="last_http_status",
            field=models.PositiveSmallIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="webresource",
            name="last_status",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Not checked yet"),
                    ("ok", "OK"),
                    ("redirect", "Moved permanently"),
                    ("broken", "Broken"),
                    ("error", "No answer"),
                ],
                editable=False,
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="webresource",
            name="redirect_to",
            field=models.URLField(
                blank=True,
                editable=False,
                help_text="Where it moved permanently (301, 308).",
                max_length=1000,
            ),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
