"""Where members' documents live: a directory outside every public URL (PRIVATE_MEDIA_ROOT)."""

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible


@deconstructible(path="members.storage.PrivateDocumentStorage")
class PrivateDocumentStorage(FileSystemStorage):
    """A filesystem storage that has no URL at all and always uses the current PRIVATE_MEDIA_ROOT.

    The location is read from settings on each use (not frozen when the model is imported), so a
    changed setting, e.g. a per-test directory, takes effect. Documents are served only through the
    view that checks who is asking; `url()` refuses, so no template can leak a public link.
    """

    def __init__(self, **kwargs):
        kwargs.pop("location", None)
        kwargs.pop("base_url", None)
        super().__init__(**kwargs)

    @property
    def base_location(self):
        return settings.PRIVATE_MEDIA_ROOT

    @property
    def location(self):
        from pathlib import Path

        return str(Path(self.base_location).resolve())

    @property
    def base_url(self):
        return None

    def url(self, name):
        raise ValueError("Members' documents have no public URL; use the document download view.")
