"""When a page changes, whoever needs to know listens here.

``TreatmentPage.record_change`` is the only sender: editors' saves, imports and publication
refreshes all go through it, so a page cache, a feed or a sitemap has one signal to follow.

Who listens (add each new listener here, with its module):
- ``treatments.cache``: on commit, marks the page cache's copies of ``urls_for(page)`` stale (the
  page, its section and the sections above it, home) and bans them at the edge (``cancerindex.edge``).
  It also follows what this signal does not carry: a page's deletion or a save that bypasses
  ``record_change`` (post_save/post_delete of TreatmentPage), and any section change or move
  (Section, PathRedirect), which purges every page.
"""

from django.dispatch import Signal

# Sent with ``page`` (the TreatmentPage) and ``reason`` ("content" or "list"), inside the writer's
# transaction, like Django's own model signals: a listener that acts outside the database (purging
# a cache, pinging a search index) wraps that work in ``transaction.on_commit``, so it never acts on
# a change that is rolled back or serves the old page before the new one is committed.
page_changed = Signal()
