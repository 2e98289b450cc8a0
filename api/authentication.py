"""The API's bearer authentication (REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES names it).

A module apart from api.auth: DRF imports it while `rest_framework.views` itself is being imported, so it
may not import DRF's views. Tokens carry `otp` (api.auth.SessionRefreshToken): whether the login their
family began with gave a second factor. A token without it, for a user who now needs two-factor (a member
since given a staff role), is refused here and by the refresh endpoint: 401 "two_factor_required".
A token issued before the claim existed has none: a staff role's holder logs in again, once, with the code.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts import two_factor

OTP_CLAIM = "otp"


class TwoFactorLoginRequired(exceptions.AuthenticationFailed):
    default_code = "two_factor_required"
    default_detail = "Two-factor required: log in again with your authenticator code."


def check_second_factor(token, user) -> None:
    """Refuse a token whose login gave no second factor when the user now needs one (a role given since)."""
    if token.get(OTP_CLAIM) is not True and two_factor.two_factor_required(user):
        raise TwoFactorLoginRequired()


def token_user(token):
    """The user a token names, read with what the two-factor rule needs (one query), or None."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        return None
    users = two_factor.with_staff_role(get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}))
    return users.first()


class TwoFactorJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication, refusing a token that lacks the second factor its user now needs."""

    def get_user(self, validated_token):
        if api_settings.USER_ID_CLAIM not in validated_token.payload:
            raise InvalidToken("Token contained no recognizable user identification")
        user = token_user(validated_token)
        if user is None:
            raise exceptions.AuthenticationFailed("User not found", code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive", code="user_inactive")
        check_second_factor(validated_token, user)
        return user
