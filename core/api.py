"""What every app's REST API shares: the error shape for the OpenAPI description and PDF downloads.

The error shape itself is made by api.errors (the DRF exception handler); these only describe and serve.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    retry_after_seconds = serializers.IntegerField(required=False)


class ErrorSerializer(serializers.Serializer):
    """api.errors' one error shape, for the OpenAPI description."""

    error = ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


class PDFRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`; the views hand it finished bytes."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class PDFDownloadMixin:
    """A view answering a PDF download, or an error in the usual JSON shape whatever the Accept header."""

    renderer_classes = [JSONRenderer, PDFRenderer]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


def pdf_attachment(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
