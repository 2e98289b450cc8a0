"""Reference data for sign-up forms in clients: categories, countries, a country's regions. Public (no
token), throttled as anonymous requests, and cacheable for an hour."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers

from .models import Country, MembershipCategory, Region


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = MembershipCategory
        fields = [
            "code",
            "name",
            "description",
            "registration_fee",
            "renewal_fee",
            "late_fee",
            "period_months",
            "grace_days",
            "required_documents",
        ]


class CountrySerializer(serializers.ModelSerializer):
    class Meta:
        model = Country
        fields = ["code", "name", "iso3", "dial_code"]


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["code", "name"]


class _Public(generics.ListAPIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    pagination_class = None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == 200:
            patch_cache_control(response, public=True, max_age=3600)
        return response


@extend_schema(tags=["reference"])
class CategoryList(_Public):
    """Membership categories open for registration, with their fees and required documents."""

    serializer_class = CategorySerializer
    queryset = MembershipCategory.objects.filter(is_active=True).order_by("display_order", "name")


@extend_schema(tags=["reference"])
class CountryList(_Public):
    serializer_class = CountrySerializer
    queryset = Country.objects.order_by("name")


@extend_schema(tags=["reference"])
class RegionList(_Public):
    """The regions (in Kenya, the 47 counties) of one country, by its ISO code."""

    serializer_class = RegionSerializer

    def get_queryset(self):
        country = get_object_or_404(Country, code=self.kwargs["code"].upper())
        return Region.objects.filter(country=country).order_by("name")
