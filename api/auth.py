"""JWT for mobile and partner clients, as the brief documents it.

`POST /api/auth/login/` takes `{"username": <email>, "password"}` and answers `{"access", "refresh"}`;
`POST /api/auth/refresh/` takes `{"refresh"}` and answers a new `access` and a new `refresh` (rotation:
the old refresh token is blacklisted), until JWT_REFRESH_ABSOLUTE_LIFETIME_DAYS after the login; a password
change or reset, or a deactivation, blacklists every refresh token of the user (accounts.signals).
`POST /api/auth/logout/` blacklists the refresh token it is given.

Every token carries `otp`: true when the login its family began with gave a second factor (the app's code or
a recovery code); rotation carries it on. Two-factor follows the role for tokens already issued, too: a token
without `otp` true, for a user `two_factor.two_factor_required` now says needs it (a member since given a
staff role), reaches nothing and cannot be refreshed: a 401 with `code` "two_factor_required" (log in again).
Logins and failed logins go to the audit trail like the web's.

Failed logins lock out the username from the client's address like the web's (accounts.security): the answer
is then a 429 with `code` "locked_out" and `retry_after_seconds`. An account with two-factor authentication
also sends `otp`, the authenticator app's current code or a recovery code: without it the answer is a 401
with `code` "otp_required", with a wrong one a 401 "otp_invalid" (which counts as a failed login). Staff
roles must have two-factor: one not yet set up gets a 403 "two_factor_setup_required" and no tokens.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch
from rest_framework_simplejwt.views import TokenRefreshView

from accounts import two_factor
from accounts.security import LOCKED_OUT_MESSAGE, forget_failures, lockout_until, retry_after_seconds
from api.authentication import OTP_CLAIM, check_second_factor, token_user
from audit.models import AuditLog
from audit.services import audit_log
from core.emails import NormalisedEmailSerializerField, normalise_email
from core.http import client_ip


class SessionRefreshToken(RefreshToken):
    """A refresh token that remembers when its family (the login it descends from) began.

    Rotation copies every claim into the new token but gives it a fresh `exp`, so without this a client that
    refreshes within the lifetime would stay logged in for ever; the family ends
    JWT_REFRESH_ABSOLUTE_LIFETIME_DAYS after the login whatever the rotations.
    """

    family_claim = "family_iat"

    @classmethod
    def for_user(cls, user, *, otp: bool = False):
        """A new family's refresh token; `otp` says whether this login gave a second factor."""
        token = super().for_user(user)
        token[cls.family_claim] = token["iat"]
        token[OTP_CLAIM] = otp  # copied into every access token and every rotation of this family
        return token

    def verify(self):
        super().verify()
        # A token from before this claim counts its family from its own issue; rotation then carries that on.
        self.payload.setdefault(self.family_claim, self.payload["iat"])
        started = datetime_from_epoch(self.payload[self.family_claim])
        if self.current_time - started >= datetime.timedelta(days=settings.JWT_REFRESH_ABSOLUTE_LIFETIME_DAYS):
            raise TokenError("This login has reached its maximum lifetime: log in again.")


# simplejwt's rotation (the used token blacklisted, every claim carried on), after two more checks: the user is
# still active, and has given the second factor their role now needs. (A comment: a docstring would be the
# schema's description of the refresh request.)
class SessionRefreshSerializer(TokenRefreshSerializer):
    token_class = SessionRefreshToken

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        user = token_user(refresh)
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise exceptions.AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account")
        check_second_factor(refresh, user)
        data = {"access": str(refresh.access_token)}
        if not api_settings.ROTATE_REFRESH_TOKENS:
            return data
        if api_settings.BLACKLIST_AFTER_ROTATION:
            refresh.blacklist()
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand()
        data["refresh"] = str(refresh)
        return data


class LoginThrottle(SimpleRateThrottle):
    """Login attempts per username from one address; the address's own limit is LoginIPThrottle's.

    Not per username alone: then anyone, from anywhere, could keep a member from logging in.
    """

    scope = "login"

    def get_cache_key(self, request, view):
        data = getattr(request, "data", None)
        username = data.get("username") if isinstance(data, Mapping) else None
        if not isinstance(username, str) or not username.strip():
            return None  # not a login attempt the serializer will accept; the IP throttle still counts it
        # Hashed: whatever a client sends, the key stays short and safe for any cache backend.
        # Normalised as the login and the lockout count it: a look-alike spelling is the same username.
        ident = hashlib.sha256(f"{normalise_email(username)}|{self.get_ident(request)}".encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginIPThrottle(AnonRateThrottle):
    scope = "login_ip"


class LoginSerializer(serializers.Serializer):
    username = NormalisedEmailSerializerField(help_text="The account's email address.")
    password = serializers.CharField(trim_whitespace=False, write_only=True)
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        write_only=True,
        help_text="Accounts with two-factor authentication: the authenticator app's current code, or a recovery code.",
    )


class OTPRequired(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "otp_required"
    default_detail = (
        "This account uses two-factor authentication: send the 6-digit code from the authenticator app "
        "(or a recovery code) as otp."
    )


class OTPInvalid(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "otp_invalid"
    default_detail = "The code in otp is not right, or it was used already."


class TwoFactorSetupRequired(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "two_factor_setup_required"
    default_detail = (
        "Your role requires two-factor authentication. Log in on the website once to set it up, "
        "then log in here with the code as otp."
    )


def locked_out(request, email) -> exceptions.Throttled:
    seconds = retry_after_seconds(lockout_until(username=normalise_email(email), ip_address=client_ip(request)))
    return exceptions.Throttled(wait=seconds, detail=LOCKED_OUT_MESSAGE, code="locked_out")


TOKENS = inline_serializer("Tokens", {"access": serializers.CharField(), "refresh": serializers.CharField()})


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginThrottle, LoginIPThrottle]

    @extend_schema(
        request=LoginSerializer,
        responses={
            200: TOKENS,
            400: OpenApiResponse(description="The email or password is not right (or a field is missing)."),
            401: OpenApiResponse(description="Two-factor: `otp` is missing (otp_required) or not right (otp_invalid)."),
            403: OpenApiResponse(description="A staff role without two-factor set up (two_factor_setup_required)."),
            429: OpenApiResponse(description="Too many failed logins from this address (locked_out) or requests."),
        },
        tags=["auth"],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["username"]
        user = authenticate(request, username=email, password=serializer.validated_data["password"])
        if user is None or not user.is_active:
            # authenticate() sent user_login_failed: accounts.signals audits it and django-axes counts it (and
            # marks the request when this username is, or now becomes, locked out from this address).
            if getattr(request, "axes_locked_out", False):
                raise locked_out(request, email)
            raise serializers.ValidationError({"non_field_errors": ["The email or password is not right."]})
        second_factor = False
        if two_factor.has_two_factor(user):
            otp = serializer.validated_data.get("otp", "")
            if not otp:
                raise OTPRequired()
            result = two_factor.check_code(user, otp)
            if result.device is None:
                credentials = {"username": email, "stage": "second_factor"}
                user_login_failed.send(sender=__name__, credentials=credentials, request=request)
                if getattr(request, "axes_locked_out", False):
                    raise locked_out(request, email)
                raise OTPInvalid(result.error)
            if result.recovery_code:
                two_factor.audit_recovery_code_use(user, request, channel="api")
            second_factor = True
        elif two_factor.two_factor_required(user):
            raise TwoFactorSetupRequired()
        forget_failures(request, email)  # as a web login does (AXES_RESET_ON_SUCCESS)
        refresh = SessionRefreshToken.for_user(user, otp=second_factor)
        audit_log(action=AuditLog.Action.LOGIN, actor=user, target=user, data={"channel": "api"}, request=request)
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})


class RefreshView(TokenRefreshView):
    serializer_class = SessionRefreshSerializer

    @extend_schema(tags=["auth"])
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class LogoutView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=LogoutSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token = RefreshToken(serializer.validated_data["refresh"])
            if str(token.get("user_id")) != str(request.user.pk):
                raise TokenError("not this user's token")
            token.blacklist()
        except TokenError:
            raise serializers.ValidationError({"refresh": ["This refresh token is not valid."]}) from None
        audit_log(action=AuditLog.Action.LOGOUT, actor=request.user, target=request.user, data={"channel": "api"})
        return Response(status=status.HTTP_204_NO_CONTENT)
