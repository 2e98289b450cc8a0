"""The payments API (the brief's paths): the caller's history, starting an M-Pesa payment, its status.

Every lookup is scoped to the caller: another member's payment reference answers 404, as if it did not exist.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from members.models import Member

from .models import Payment
from .services import PaymentError, payment_due, payment_failure_reason, payment_initiate_mpesa


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


def own_member(request) -> Member:
    try:
        return Member.objects.select_related("category", "user").get(user=request.user)
    except Member.DoesNotExist:
        raise Http404("This account has no membership.") from None


class HistoryPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class PaymentHistoryView(generics.ListAPIView):
    serializer_class = PaymentSerializer
    pagination_class = HistoryPagination

    def get_queryset(self):
        return Payment.objects.filter(member=own_member(self.request)).order_by("-created_at", "-pk")

    @extend_schema(tags=["payments"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InitiateView(APIView):
    @extend_schema(request=InitiateSerializer, responses={201: PaymentSerializer}, tags=["payments"])
    def post(self, request):
        member = own_member(request)
        serializer = InitiateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        due = payment_due(member)
        if due is not None and data["amount"] != due.amount:
            raise ValidationError({"amount": [f"The amount due is KES {due.amount:,} ({due.payment_type})."]})
        try:
            payment = payment_initiate_mpesa(
                member=member,
                payment_type=data["payment_type"],
                phone=data["phone_number"],
                amount=data["amount"],
                actor=request.user,
                request=request,
            )
        except PaymentError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from None
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
