from django.db import migrations


def clear_citations(apps, schema_editor):
    """Stored JSON-LD predates the issue's day in ``datePublished``, a chapter as part of its book (not a
    periodical) and DOIs percent-encoded in doi.org URLs: cleared, each entry is built again (its JSON-LD
    and HTML) the first time a page shows it (``PublicationQuerySet.render_stale``)."""
    Publication = apps.get_model("publications", "Publication")
    Publication.objects.exclude(rendered_citation="").update(rendered_citation="")


class Migration(migrations.Migration):
    dependencies = [
        ("publications", "0017_source_without_references"),
    ]

    operations = [
        migrations.RunPython(clear_citations, migrations.RunPython.noop),
    ]
