"""The member's own profile over the API: `GET /api/members/profile/` (the brief's path)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.api import own_member

from .models import Member


class ProfileSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    category = serializers.CharField(source="category.code", read_only=True)
    country = serializers.CharField(source="country_id", read_only=True)
    region = serializers.CharField(source="region.code", read_only=True, default=None)

    class Meta:
        model = Member
        fields = [
            "membership_number",
            "status",
            "first_name",
            "other_names",
            "last_name",
            "email",
            "phone_number",
            "id_type",
            "id_number",
            "date_of_birth",
            "gender",
            "category",
            "country",
            "region",
            "physical_address",
            "postal_address",
            "occupation",
            "organisation",
            "applied_at",
            "period_start",
            "period_end",
            "notify_by_email",
            "notify_by_sms",
        ]
        read_only_fields = fields


class ProfileView(APIView):
    @extend_schema(responses={200: ProfileSerializer}, tags=["members"])
    def get(self, request):
        member = own_member(request)
        member = Member.objects.select_related("user", "category", "country", "region").get(pk=member.pk)
        response = Response(ProfileSerializer(member).data)
        response["Cache-Control"] = "no-store"
        return response
