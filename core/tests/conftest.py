"""The members tests' valid web registration, shared with the storage tests here."""

from members.tests.conftest import registration_data  # noqa: F401 (a shared fixture)
