from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members"

    def ready(self):
        from . import signals  # noqa: F401  (keeps search_text in step with the user's name and email)
