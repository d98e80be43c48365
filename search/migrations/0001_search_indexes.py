"""GIN indexes for full-text search, on PostgreSQL only (SQLite searches without them).

Each index is on exactly the expression ``search.query`` matches against (``page_document``,
``web_resource_document``, ``publication_document``), so ``document @@ query`` reads the index; a
test checks PostgreSQL's plan uses them. Change an expression there and here together.
"""

from django.db import migrations

# As PostgreSQL prints the queries' expressions: a varchar column is coalesced, then cast to text.
VARCHAR = "(COALESCE({}, ''::character varying))::text"
INDEXES = {
    "search_page_document": (
        "treatments_treatmentpage",
        f"setweight(to_tsvector('english'::regconfig, {VARCHAR.format('title')}), 'A') || "
        f"setweight(to_tsvector('english'::regconfig, "
        f"({VARCHAR.format('other_name')} || ' ') || {VARCHAR.format('label')}), 'B') || "
        "setweight(to_tsvector('english'::regconfig, COALESCE(description, '')), 'C')",
    ),
    "search_web_resource_document": (
        "treatments_webresource",
        f"to_tsvector('english'::regconfig, {VARCHAR.format('title')})",
    ),
    "search_publication_document": (
        "publications_publication",
        "setweight(to_tsvector('english'::regconfig, COALESCE(title, '')), 'A') || "
        "setweight(to_tsvector('english'::regconfig, "
        f"(COALESCE(authors_text, '') || ' ') || {VARCHAR.format('journal')}), 'B') || "
        "setweight(to_tsvector('english'::regconfig, abstract), 'C')",
    ),
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, expression) in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING GIN (({expression}))")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0009_webresource_unique_position_constraint"),
        ("publications", "0005_prune_refresh_runs_schedule"),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
