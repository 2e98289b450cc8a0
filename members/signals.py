from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from .search import refresh_search_text


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="members.user_search_text")
def user_saved(sender, instance, created, raw=False, **kwargs):
    if created or raw:
        return  # a new user has no member yet; fixtures are loaded as they are
    from .models import Member

    refresh_search_text(Member.objects.filter(user_id=instance.pk).values_list("pk", flat=True))
