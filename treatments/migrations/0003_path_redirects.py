"""Redirects from old paths after a move or rename; Editors may see and delete them (recorded, not typed)."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

EDITOR_ACTIONS = ["view", "delete"]


def grant_editors(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    create_permissions(global_apps.get_app_config("treatments"), apps=apps, verbosity=0)
    Permission = apps.get_model("auth", "Permission")
    editors = apps.get_model("auth", "Group").objects.filter(name="Editors").first()
    if editors is None:  # removed on purpose: nothing to grant
        return
    codenames = [f"{action}_pathredirect" for action in EDITOR_ACTIONS]
    editors.permissions.add(
        *Permission.objects.filter(content_type__app_label="treatments", codename__in=codenames)
    )


def revoke_editors(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    editors = apps.get_model("auth", "Group").objects.filter(name="Editors").first()
    if editors is not None:
        codenames = [f"{action}_pathredirect" for action in EDITOR_ACTIONS]
        editors.permissions.remove(
            *Permission.objects.filter(content_type__app_label="treatments", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0002_editors_group"),
    ]

    operations = [
        migrations.CreateModel(
            name="PathRedirect",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("old_path", models.CharField(max_length=601, unique=True)),
                ("new_path", models.CharField(db_index=True, max_length=601)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "redirect",
                "ordering": ["old_path"],
            },
        ),
        migrations.RunPython(grant_editors, revoke_editors),
    ]
