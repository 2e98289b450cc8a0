"""The staff side of the API: the member list, one member with their documents, and an application's review.

    GET  /api/staff/members/                  the dashboard's member list (same filters, same order)
    GET  /api/staff/members/<id>/             one member, with every document and its download URL
    POST /api/staff/members/<id>/approve/     approve the application and issue the membership number
    POST /api/staff/members/<id>/reject/      {"reason"}: reject the application
    POST /api/staff/documents/<id>/verify/    verify one document
    POST /api/staff/documents/<id>/reject/    {"reason"}: reject one document
    GET  /api/staff/documents/<id>/file/      the document's file, as an attachment

Each endpoint requires exactly the Django permissions of its web twin in dashboard/ (and members/views.py
for the file), so the roles in accounts/roles.py reach the same things by either door. Without a token the
answer is 401; with a token lacking a permission it is 403, before any id is looked up, so a member's token
learns nothing about which ids exist. The changes go through members/services.py, which audits them.

A refused action answers in api/errors.py's shape: 409 when the member or document is no longer in a state
that allows it (already decided, no longer open for review), 400 when it could be allowed but is not yet
(an application whose required documents are not all verified) or the input is wrong (a missing reason).

The list takes MemberFilter's parameters, as the web list's URL does: `q` (with `search` as an alias),
`status`, `payment`, `category`, `country`, `region`, `joined_after`/`joined_before`,
`expires_after`/`expires_before` and `ordering`; plus `page` and `per_page` (25, 50 or 100). It never counts
a whole table: the count is LargeTablePaginator's, capped, so the answer says how exact it is:

    {"count": 10000, "count_is_estimate": false, "count_is_capped": true, "page": 1, "per_page": 25,
     "num_pages": 400, "next": "https://.../api/staff/members/?page=2", "previous": null, "results": [...]}

`count_is_estimate` means PostgreSQL's row estimate for an unfiltered list beyond the cap; `count_is_capped`
means "more than `count`" for a filtered one (pages past the cap are not offered: narrow the filters).
"""

from __future__ import annotations

from django.core.paginator import InvalidPage
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, permissions, serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from audit.models import AuditLog
from audit.services import audit_log
from core.http import private_file_response
from core.pagination import DEFAULT_COUNT_CAP, PAGE_SIZES, SEARCH_COUNT_CAP, LargeTablePaginator, page_size

from . import uploads
from .filters import MemberFilter, member_list_queryset
from .models import Document, Member
from .services import (
    document_reject,
    document_verify,
    member_approve,
    member_reject,
    unverified_documents,
)

# The web views' permissions (dashboard/members/, members/views.py).
VIEW_MEMBERS = ("members.view_member",)
REVIEW_APPLICATIONS = ("members.view_member", "members.review_application")
REVIEW_DOCUMENTS = ("members.view_document", "members.review_document")
VIEW_DOCUMENTS = ("members.view_document",)


class HasRequiredPermissions(permissions.BasePermission):
    """The view's `required_permissions`, all of them. Anonymous callers are refused too, which DRF turns
    into a 401 because JWT authentication offers a challenge."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(view.required_permissions))


class StaffAPIView(APIView):
    permission_classes = [HasRequiredPermissions]
    required_permissions: tuple[str, ...] = ()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Personal data: no shared or browser cache keeps a copy.
        response.setdefault("Cache-Control", "no-store")
        return response


ERRORS = {
    401: OpenApiResponse(description="No valid access token."),
    403: OpenApiResponse(description="The token's user lacks the permission the web dashboard requires."),
    404: OpenApiResponse(description="No such member or document."),
}


# --- Serializers ----------------------------------------------------------------------------------------------


class StaffMemberRowSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    category = serializers.CharField(source="category.code", read_only=True)
    category_name = serializers.CharField(source="category.name", read_only=True)
    country = serializers.CharField(source="country_id", read_only=True)
    region = serializers.CharField(source="region.code", read_only=True, default=None, allow_null=True)
    region_name = serializers.CharField(source="region.name", read_only=True, default=None, allow_null=True)
    url = serializers.SerializerMethodField(help_text="This member's staff API detail.")

    class Meta:
        model = Member
        fields = [
            "id",
            "url",
            "membership_number",
            "status",
            "full_name",
            "email",
            "phone_number",
            "category",
            "category_name",
            "country",
            "region",
            "region_name",
            "applied_at",
            "period_end",
        ]
        read_only_fields = fields

    def get_url(self, member) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:staff_member_detail", args=[member.pk]))


class StaffDocumentSerializer(serializers.ModelSerializer):
    doc_type_label = serializers.CharField(source="get_doc_type_display", read_only=True)
    reviewed_by = serializers.EmailField(source="reviewed_by.email", read_only=True, default=None, allow_null=True)
    download_url = serializers.SerializerMethodField(help_text="The file, for a token with members.view_document.")

    class Meta:
        model = Document
        fields = [
            "id",
            "doc_type",
            "doc_type_label",
            "status",
            "rejection_reason",
            "is_current",
            "original_name",
            "content_type",
            "size",
            "uploaded_at",
            "reviewed_at",
            "reviewed_by",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, document) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:staff_document_file", args=[document.pk]))


class StaffMemberDetailSerializer(StaffMemberRowSerializer):
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    approved_by = serializers.EmailField(source="approved_by.email", read_only=True, default=None, allow_null=True)
    documents = serializers.SerializerMethodField()
    unverified_documents = serializers.SerializerMethodField(
        help_text="Required document types not yet verified; approval waits for none to be left."
    )

    class Meta(StaffMemberRowSerializer.Meta):
        fields = [
            *StaffMemberRowSerializer.Meta.fields,
            "first_name",
            "other_names",
            "last_name",
            "status_reason",
            "status_changed_at",
            "id_type",
            "id_number",
            "date_of_birth",
            "gender",
            "physical_address",
            "postal_address",
            "occupation",
            "organisation",
            "approved_at",
            "approved_by",
            "activated_at",
            "registration_paid_at",
            "registration_payment_reference",
            "period_start",
            "documents",
            "unverified_documents",
        ]
        read_only_fields = fields

    @extend_schema_field(StaffDocumentSerializer(many=True))
    def get_documents(self, member):
        # Current documents first, then replaced ones, each by type and newest first (the prefetch's order):
        # the web page's two tables.
        documents = sorted(member.documents.all(), key=lambda document: not document.is_current)
        return StaffDocumentSerializer(documents, many=True, context=self.context).data

    def get_unverified_documents(self, member) -> list[str]:
        return unverified_documents(member)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Told to the member.")


# --- The list -------------------------------------------------------------------------------------------------


class MemberFilterBackend(DjangoFilterBackend):
    """MemberFilter over the query string, `search` standing in for `q`; the filter set stays on the view,
    where the paginator reads whether the list is narrowed."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        data = kwargs["data"]
        if "search" in data and "q" not in data:
            data = data.copy()
            data["q"] = data["search"]
            kwargs["data"] = data
        return kwargs

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        view.filterset = filterset
        return filterset


class CappedCountPagination(BasePagination):
    """Page numbers over LargeTablePaginator: the count reads at most `cap + 1` index entries."""

    count_cap = DEFAULT_COUNT_CAP
    search_count_cap = SEARCH_COUNT_CAP  # a text search re-checks each row it counts, so it stops sooner

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        filterset = getattr(view, "filterset", None)
        searching = bool(filterset is not None and filterset.form.cleaned_data.get("q"))
        cap = min(self.count_cap, self.search_count_cap) if searching else self.count_cap
        filtered = bool(filterset is not None and filterset.is_filtered)
        self.paginator = LargeTablePaginator(queryset, page_size(request), filtered=filtered, count_cap=cap)
        number = request.query_params.get("page") or 1
        try:
            self.page = self.paginator.page(number)
        except InvalidPage as error:  # not a number, or past the last page
            raise exceptions.NotFound(f"There is no page {number!s:.20} ({str(error).lower()}).") from None
        return list(self.page)

    def _link(self, number: int | None) -> str | None:
        if number is None:
            return None
        url = self.request.build_absolute_uri()
        return remove_query_param(url, "page") if number == 1 else replace_query_param(url, "page", number)

    def get_paginated_response(self, data):
        page, paginator = self.page, self.paginator
        return Response(
            {
                "count": paginator.count,
                "count_is_estimate": paginator.count_is_estimate,
                "count_is_capped": paginator.count_is_capped,
                "page": page.number,
                "per_page": paginator.per_page,
                "num_pages": paginator.num_pages,
                "next": self._link(page.next_page_number() if page.has_next() else None),
                "previous": self._link(page.previous_page_number() if page.has_previous() else None),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["count", "count_is_estimate", "count_is_capped", "page", "per_page", "num_pages", "results"],
            "properties": {
                "count": {"type": "integer", "description": "Exact unless one of the two flags below is set."},
                "count_is_estimate": {
                    "type": "boolean",
                    "description": "The count is PostgreSQL's row estimate (an unfiltered list beyond the cap).",
                },
                "count_is_capped": {
                    "type": "boolean",
                    "description": "There are more than `count` rows; pages past it are not offered.",
                },
                "page": {"type": "integer"},
                "per_page": {"type": "integer", "enum": list(PAGE_SIZES)},
                "num_pages": {"type": "integer"},
                "next": link,
                "previous": link,
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "required": False,
                "in": "query",
                "description": "Page number, from 1.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "per_page",
                "required": False,
                "in": "query",
                "description": f"Rows per page, one of {', '.join(map(str, PAGE_SIZES))}; else the first.",
                "schema": {"type": "integer", "enum": list(PAGE_SIZES)},
            },
        ]


@extend_schema(
    tags=["staff"],
    summary="Search and filter members",
    description=(
        "The staff dashboard's member list, with its filters and sort orders (Admin, Staff, Finance: "
        "`members.view_member`). Newest applications first unless `ordering` is given (or, with an "
        "`expires_*` filter, soonest period end first). The count is capped rather than exact on large "
        "results: `count_is_capped` means there are more than `count` rows, `count_is_estimate` that an "
        "unfiltered count is the database's estimate."
    ),
    parameters=[
        OpenApiParameter("search", str, description="Same as `q` (used when `q` is absent)."),
    ],
    responses={
        200: StaffMemberRowSerializer(many=True),
        400: OpenApiResponse(description="A filter's value was not accepted."),
        401: ERRORS[401],
        403: ERRORS[403],
    },
)
class StaffMemberListView(ListAPIView, StaffAPIView):
    required_permissions = VIEW_MEMBERS
    serializer_class = StaffMemberRowSerializer
    filter_backends = [MemberFilterBackend]
    filterset_class = MemberFilter
    pagination_class = CappedCountPagination

    def get_queryset(self):
        return member_list_queryset()


# --- One member, and the review ---------------------------------------------------------------------------------


def _member_for_review(pk) -> Member:
    """Everything the detail shows, in two queries whatever the number of documents."""
    return get_object_or_404(
        Member.objects.select_related("user", "category", "country", "region", "approved_by").prefetch_related(
            Prefetch(
                "documents",
                queryset=Document.objects.order_by("doc_type", "-uploaded_at").select_related("reviewed_by"),
            )
        ),
        pk=pk,
    )


def _member_response(request, pk) -> Response:
    member = _member_for_review(pk)
    return Response(StaffMemberDetailSerializer(member, context={"request": request}).data)


def _reason(request) -> str:
    serializer = ReasonSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["reason"]


class StaffMemberDetailView(StaffAPIView):
    required_permissions = VIEW_MEMBERS

    @extend_schema(
        tags=["staff"],
        summary="One member, with their documents",
        description="Requires `members.view_member` (Admin, Staff, Finance). Each document has a `download_url`.",
        responses={200: StaffMemberDetailSerializer, **ERRORS},
    )
    def get(self, request, pk: int):
        return _member_response(request, pk)


class StaffMemberApproveView(StaffAPIView):
    required_permissions = REVIEW_APPLICATIONS

    @extend_schema(
        tags=["staff"],
        summary="Approve an application",
        description=(
            "Approves a pending application and issues its membership number; the membership becomes active at "
            "once if the registration fee is already paid. Every required document must be verified first. "
            "Requires `members.review_application` (Admin, Staff)."
        ),
        request=None,
        responses={
            200: StaffMemberDetailSerializer,
            400: OpenApiResponse(description="Required documents are not all verified yet."),
            409: OpenApiResponse(description="The application is not pending (already decided)."),
            **ERRORS,
        },
    )
    def post(self, request, pk: int):
        member = get_object_or_404(Member, pk=pk)
        member_approve(member=member, actor=request.user, request=request)
        return _member_response(request, pk)


class StaffMemberRejectView(StaffAPIView):
    required_permissions = REVIEW_APPLICATIONS

    @extend_schema(
        tags=["staff"],
        summary="Reject an application",
        description=(
            "Rejects an application (pending, or approved with the fee not yet paid); the member is told the "
            "reason. Requires `members.review_application` (Admin, Staff)."
        ),
        request=ReasonSerializer,
        responses={
            200: StaffMemberDetailSerializer,
            400: OpenApiResponse(description="No reason given."),
            409: OpenApiResponse(description="The application can no longer be rejected."),
            **ERRORS,
        },
    )
    def post(self, request, pk: int):
        member = get_object_or_404(Member, pk=pk)
        reason = _reason(request)
        member_reject(member=member, reason=reason, actor=request.user, request=request)
        return _member_response(request, pk)


def _document_response(request, document: Document) -> Response:
    document = Document.objects.select_related("reviewed_by").get(pk=document.pk)
    return Response(StaffDocumentSerializer(document, context={"request": request}).data)


class StaffDocumentVerifyView(StaffAPIView):
    required_permissions = REVIEW_DOCUMENTS

    @extend_schema(
        tags=["staff"],
        summary="Verify a document",
        description="Requires `members.review_document` (Admin, Staff).",
        request=None,
        responses={
            200: StaffDocumentSerializer,
            409: OpenApiResponse(description="The document is no longer open for review."),
            **ERRORS,
        },
    )
    def post(self, request, pk: int):
        document = get_object_or_404(Document, pk=pk)
        document = document_verify(document=document, actor=request.user, request=request)
        return _document_response(request, document)


class StaffDocumentRejectView(StaffAPIView):
    required_permissions = REVIEW_DOCUMENTS

    @extend_schema(
        tags=["staff"],
        summary="Reject a document",
        description=(
            "The member is told the reason and can upload another. Requires `members.review_document` (Admin, Staff)."
        ),
        request=ReasonSerializer,
        responses={
            200: StaffDocumentSerializer,
            400: OpenApiResponse(description="No reason given."),
            409: OpenApiResponse(description="The document is no longer open for review."),
            **ERRORS,
        },
    )
    def post(self, request, pk: int):
        document = get_object_or_404(Document, pk=pk)
        reason = _reason(request)
        document = document_reject(document=document, reason=reason, actor=request.user, request=request)
        return _document_response(request, document)


class StaffDocumentFileView(StaffAPIView):
    # The web's document download (members/views.py) for token clients: the same permission, headers and
    # audit entry. The session-only web view cannot take a bearer token, hence this one.

    required_permissions = VIEW_DOCUMENTS

    def perform_content_negotiation(self, request, force=False):
        # A client asking for the file's own type (Accept: application/pdf) still gets its errors as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        tags=["staff"],
        summary="Download a document's file",
        description="Served as an attachment. Requires `members.view_document` (Admin, Staff); each download is "
        "recorded in the audit trail.",
        responses={
            **{(200, content_type): OpenApiTypes.BINARY for content_type in (uploads.PDF, uploads.JPEG, uploads.PNG)},
            **ERRORS,
        },
    )
    def get(self, request, pk: int):
        document = get_object_or_404(Document, pk=pk)
        if not document.file:
            raise Http404  # an erased member's document: the row stays, the file is gone (privacy.erasure)
        audit_log(
            action=AuditLog.Action.DOCUMENT_DOWNLOADED,
            actor=request.user,
            target=document,
            data={"channel": "api"},
            request=request,
        )
        extension = document.file.name[document.file.name.rfind(".") :] if "." in document.file.name else ""
        # Sent by nginx (X-Accel-Redirect) when PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX is set, else streamed;
        # attachment, nosniff and no-store either way.
        try:
            response = private_file_response(
                document.file, filename=f"{document.doc_type}{extension}", content_type=document.content_type
            )
        except FileNotFoundError:
            raise Http404 from None
        response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
        return response
