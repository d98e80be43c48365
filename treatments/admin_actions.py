"""Change-list actions on treatment pages."""

from django.contrib import admin, messages

from .review import mark_reviewed


@admin.action(description="Mark as reviewed", permissions=["change"])
def mark_reviewed_action(modeladmin, request, queryset):
    """Each selected page: reviewed today by this editor, next review due in a year (one revision each)."""
    pages = list(queryset)
    for page in pages:
        mark_reviewed(page, request.user)
    if pages:
        modeladmin.message_user(
            request,
            f"Marked {len(pages)} page{'s' if len(pages) != 1 else ''} as reviewed; "
            f"next review due {pages[0].next_review_due:%d %B %Y}.",
            messages.SUCCESS,
        )
