"""Where members' documents and export files live: STORAGES["private"].

On the filesystem (the default) a directory outside every public URL (PRIVATE_MEDIA_ROOT); with
STORAGE_BACKEND=s3 the private/ prefix of a private bucket (members.s3_storage.PrivateS3Storage).
"""

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.deconstruct import deconstructible
from django.utils.functional import LazyObject, empty


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
        return str(Path(self.base_location).resolve())

    @property
    def base_url(self):
        return None

    def url(self, name):
        raise ValueError("Members' documents have no public URL; use the document download view.")


class PrivateStorage(LazyObject):
    """STORAGES["private"], whichever backend that is, looked up when first used.

    The model FileFields hold this object rather than the storage itself (a FileField resolves its storage
    once, when the model class is built), so a changed STORAGES setting, e.g. a test that switches to a
    bucket, reaches the fields too.
    """

    def _setup(self):
        self._wrapped = storages["private"]


private_storage = PrivateStorage()


@receiver(setting_changed)
def _private_storage_changed(*, setting, **kwargs):
    if setting == "STORAGES":
        private_storage._wrapped = empty
