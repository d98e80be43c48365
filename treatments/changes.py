"""When a page changes, whoever needs to know listens here.

``TreatmentPage.record_change`` is the only sender: editors' saves, imports and publication
refreshes all go through it, so a page cache, a feed or a sitemap has one signal to follow.

Who listens: nobody in the site yet; only the tests connect to it. The first listener will be the
page cache's purge (the cache issue); add each new one to this list, with its module:
- (none yet)
"""

from django.dispatch import Signal

# Sent with ``page`` (the TreatmentPage) and ``reason`` ("content" or "list"), inside the writer's
# transaction, like Django's own model signals: a listener that acts outside the database (purging
# a cache, pinging a search index) wraps that work in ``transaction.on_commit``, so it never acts on
# a change that is rolled back or serves the old page before the new one is committed.
page_changed = Signal()
