"""The test client every test gets as `client` (root conftest.py)."""

from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client as DjangoClient
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.two_factor import two_factor_required

from .two_factor import app_device, give_two_factor


class Client(DjangoClient):
    """Django's test client whose `force_login` and `login` also mark the session as having passed the
    second step (two-factor), which the real login does once the code is right: "this user has already
    passed the second step". A user whose role requires two-factor and who has no device is given one
    first, as if they had set it up. Members without a device stay plain password logins.

    Tests of the real flow opt out: `client.force_login(user, otp_verified=False)` (or `login(...,
    otp_verified=False)`) gives a session that has not passed the second step.
    """

    def force_login(self, user, backend=None, otp_verified=True):
        super().force_login(user, backend)
        if otp_verified:
            self.pass_second_step(user)

    def login(self, otp_verified=True, **credentials):
        logged_in = super().login(**credentials)
        if logged_in and otp_verified:
            self.pass_second_step(get_user_model().objects.get(pk=self.session[SESSION_KEY]))
        return logged_in

    def pass_second_step(self, user):
        device = app_device(user)
        if device is None and two_factor_required(user):
            device = give_two_factor(user)
        if device is not None:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
