"""When a page changes, whoever needs to know listens here.

``TreatmentPage.record_change`` is the only sender: editors' saves, imports and publication
refreshes all go through it, so a page cache, a feed or a sitemap has one signal to follow.
"""

from django.dispatch import Signal

# Sent with ``page`` (the TreatmentPage) and ``reason`` ("content" or "list").
page_changed = Signal()
