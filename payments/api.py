"""The payments API (the brief's paths): the caller's history, starting an M-Pesa payment, its status and
its PDF receipt.

Every lookup is scoped to the caller: another member's payment reference answers 404, as if it did not exist.
Too many prompts (payments.services' per-member and per-phone limits) answer 429 with `Retry-After`.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import PDFDownloadMixin, error_response, pdf_attachment
from members.dues import payment_due
from members.selectors import member_of_user_or_404

from .models import Payment
from .receipts import receipt_pdf
from .services import payment_failure_reason, payment_initiate_mpesa


class PaymentSerializer(serializers.ModelSerializer):
    payment_reference = serializers.CharField(source="reference", read_only=True)
    result_description = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "payment_reference",
            "payment_type",
            "method",
            "amount",
            "status",
            "phone_number",
            "mpesa_receipt_number",
            "receipt_number",
            "result_description",
            "created_at",
            "completed_at",
        ]
        read_only_fields = fields

    def get_result_description(self, payment) -> str:
        if payment.status in (Payment.Status.PENDING, Payment.Status.COMPLETED):
            return payment.result_description
        return payment_failure_reason(payment)


class InitiateSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, help_text="KES; must equal what is due.")
    phone_number = serializers.CharField(max_length=20, help_text="The Safaricom number to prompt, any form.")
    payment_type = serializers.ChoiceField(choices=Payment.Type.choices)


class HistoryPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class PaymentHistoryView(generics.ListAPIView):
    serializer_class = PaymentSerializer
    pagination_class = HistoryPagination

    def get_queryset(self):
        return Payment.objects.filter(member=member_of_user_or_404(self.request.user)).order_by("-created_at", "-pk")

    @extend_schema(tags=["payments"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InitiateView(APIView):
    @extend_schema(
        request=InitiateSerializer,
        responses={
            201: PaymentSerializer,
            400: error_response("A field is wrong, or nothing (or something else) is due."),
            429: error_response(
                "Too many prompts for this member or this phone number just now (any account counts for the "
                "phone). The `Retry-After` header and `retry_after_seconds` say when to try again."
            ),
        },
        tags=["payments"],
    )
    def post(self, request):
        member = member_of_user_or_404(request.user)
        serializer = InitiateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        due = payment_due(member)
        if due is not None and data["amount"] != due.amount:
            raise ValidationError({"amount": [f"The amount due is KES {due.amount:,} ({due.payment_type})."]})
        # A refusal (PaymentError: 400; PaymentThrottled: 429 with Retry-After) is answered by api.errors.
        payment = payment_initiate_mpesa(
            member=member,
            payment_type=data["payment_type"],
            phone=data["phone_number"],
            amount=data["amount"],
            actor=request.user,
            request=request,
        )
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


class PaymentStatusView(generics.RetrieveAPIView):
    serializer_class = PaymentSerializer
    lookup_field = "reference"
    lookup_url_kwarg = "payment_reference"

    def get_queryset(self):
        return Payment.objects.filter(member__user=self.request.user)

    @extend_schema(tags=["payments"])
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class ReceiptView(PDFDownloadMixin, APIView):
    """The PDF receipt of one of the caller's completed payments, the same file as the web's receipt."""

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The receipt, as an attachment (receipt-<number>.pdf)."
            ),
            (404, "application/json"): error_response("No completed payment of yours has this reference."),
        },
        tags=["payments"],
    )
    def get(self, request, payment_reference):
        payment = (
            Payment.objects.select_related("member__category", "member__user")
            .filter(member__user=request.user, reference=payment_reference, status=Payment.Status.COMPLETED)
            .exclude(receipt_number__isnull=True)
            .exclude(receipt_number="")
            .first()
        )
        if payment is None:
            raise Http404("No completed payment of yours has this reference.")
        return pdf_attachment(receipt_pdf(payment), f"receipt-{payment.receipt_number}.pdf")
