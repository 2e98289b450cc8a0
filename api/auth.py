"""JWT for mobile and partner clients, as the brief documents it.

`POST /api/auth/login/` takes `{"username": <email>, "password"}` and answers `{"access", "refresh"}`;
`POST /api/auth/refresh/` takes `{"refresh"}` and answers a new `access` and a new `refresh` (rotation:
the old refresh token is blacklisted); `POST /api/auth/logout/` blacklists the refresh token it is given.
Logins and failed logins go to the audit trail like the web's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView

from audit.models import AuditLog
from audit.services import audit_log


class LoginThrottle(SimpleRateThrottle):
    """Login attempts per username (whatever IP they come from); the IP limit is LoginIPThrottle's."""

    scope = "login"

    def get_cache_key(self, request, view):
        data = getattr(request, "data", None)
        username = data.get("username") if isinstance(data, Mapping) else None
        if not isinstance(username, str) or not username.strip():
            return None  # not a login attempt the serializer will accept; the IP throttle still counts it
        # Hashed: whatever a client sends, the key stays short and safe for any cache backend.
        ident = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginIPThrottle(AnonRateThrottle):
    scope = "login_ip"


class LoginSerializer(serializers.Serializer):
    username = serializers.EmailField(help_text="The account's email address.")
    password = serializers.CharField(trim_whitespace=False, write_only=True)


TOKENS = inline_serializer("Tokens", {"access": serializers.CharField(), "refresh": serializers.CharField()})


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginThrottle, LoginIPThrottle]

    @extend_schema(request=LoginSerializer, responses={200: TOKENS}, tags=["auth"])
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["username"]
        user = authenticate(request, username=email, password=serializer.validated_data["password"])
        if user is None or not user.is_active:
            # authenticate() sent user_login_failed, which accounts.signals writes to the audit trail.
            raise serializers.ValidationError({"non_field_errors": ["The email or password is not right."]})
        refresh = RefreshToken.for_user(user)
        audit_log(action=AuditLog.Action.LOGIN, actor=user, target=user, data={"channel": "api"}, request=request)
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})


class RefreshView(TokenRefreshView):
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
