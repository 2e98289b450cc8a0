"""`GET /api/members/data-export/`: the caller's own data as a zip (see privacy.export)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import Throttled
from rest_framework.views import APIView

from core.http import private_file_response
from members.selectors import member_of_user_or_404

from .export import export_wait_seconds, member_data_export


class DataExportView(APIView):
    @extend_schema(
        tags=["members"],
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="A zip: data.json (profile, membership history, payments, consents, notifications, "
                "activity) and documents/ (the files you uploaded). Once per DATA_EXPORT_MIN_INTERVAL_SECONDS.",
            )
        },
    )
    def get(self, request):
        member = member_of_user_or_404(request.user)
        wait = export_wait_seconds(request.user)
        if wait:
            raise Throttled(wait=wait, detail="You downloaded your data a moment ago.")
        export = member_data_export(member=member, channel="api", request=request)
        # A temporary file built for this request: streamed by Django (attachment, nosniff, no-store).
        return private_file_response(export.file, filename=export.filename, content_type="application/zip")
