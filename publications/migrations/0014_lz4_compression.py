"""The rest of a publication's text and JSON columns are stored with LZ4 too, as 0006 set for the
record's XML, abstract, authors and entry HTML: the entry's JSON-LD (rendered_citation, 0013) came
later with the default pglz, which a reader's page then decompressed for every entry. A test checks
every text and JSON column, so a new one cannot miss it again."""

import importlib

from django.db import migrations

COLUMNS = ("rendered_citation", "title", "publication_types", "dates", "retraction_notices",
           "comments_corrections")  # fmt: skip

set_compression = importlib.import_module("publications.migrations.0006_lz4_compression").set_compression


class Migration(migrations.Migration):
    dependencies = [("publications", "0013_entry_json_ld")]

    operations = [migrations.RunPython(set_compression("lz4", COLUMNS), set_compression("default", COLUMNS))]
