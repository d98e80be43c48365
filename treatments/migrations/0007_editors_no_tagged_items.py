"""Editors manage tags by name; the raw tagged-item rows (any content type, any object) are not theirs."""

from django.db import migrations

TAGGED_ITEM_PERMISSIONS = ["add_taggeditem", "change_taggeditem", "delete_taggeditem", "view_taggeditem"]


def remove(apps, schema_editor):
    editors = apps.get_model("auth", "Group").objects.filter(name="Editors").first()
    if editors is not None:
        permissions = apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="taggit", codename__in=TAGGED_ITEM_PERMISSIONS
        )
        editors.permissions.remove(*permissions)


def restore(apps, schema_editor):
    editors = apps.get_model("auth", "Group").objects.filter(name="Editors").first()
    if editors is not None:
        permissions = apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="taggit", codename__in=TAGGED_ITEM_PERMISSIONS
        )
        editors.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0006_publishing_schedule"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
    ]

    operations = [migrations.RunPython(remove, restore)]
