"""The admin index's tags: ``{% needs_attention as items %}``, ``{% recent_changes as changes %}``."""

from django import template

from .. import attention

register = template.Library()


@register.simple_tag(takes_context=True)
def needs_attention(context):
    return attention.needs_attention(context["request"])


@register.simple_tag(takes_context=True)
def recent_changes(context):
    return attention.recent_changes(context["request"])
