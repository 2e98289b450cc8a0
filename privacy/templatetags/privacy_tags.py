from django import template

from accounts.consents import needs_notice_acceptance

register = template.Library()


@register.inclusion_tag("privacy/_notice_prompt.html", takes_context=True)
def privacy_notice_prompt(context):
    """On the member's portal: a request (never a block) to read a privacy notice they have not accepted."""
    request = context.get("request")
    user = getattr(request, "user", None)
    show = bool(user and user.is_authenticated and needs_notice_acceptance(user))
    return {"show": show, "csrf_token": context.get("csrf_token")}
