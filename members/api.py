"""The member's own things over the API (the brief's paths): `GET`/`PATCH /api/members/profile/`,
`POST /api/members/register/` and `GET /api/members/certificate/`.

No id in these URLs: a member only ever reaches their own profile and certificate. Registration validates
through the web's RegistrationForm (the same rules, messages and upload checks) and creates the member with
members.services.member_register; profile changes go through members.profile.member_update_profile, like
the web's profile page.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from core.api import PDFDownloadMixin, error_response, pdf_attachment
from core.parsers import FormParser, JSONParser, MultiPartParser
from core.phones import normalise_phone

from .certificates import certificate_pdf
from .forms import DOCUMENT_FIELDS, RegistrationForm
from .models import Member, Region
from .profile import BOOLEAN_FIELDS, PROFILE_FIELDS, member_update_profile, normalise_email
from .selectors import member_of_user_or_404
from .services import member_register


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


def _profile_response(member: Member, *, status_code: int = status.HTTP_200_OK) -> Response:
    member = Member.objects.select_related("user", "category", "country", "region").get(pk=member.pk)
    response = Response(ProfileSerializer(member).data, status=status_code)
    response["Cache-Control"] = "no-store"
    return response


# --- PATCH /api/members/profile/ ------------------------------------------------------------------------

READ_ONLY_MESSAGE = "This field is read-only here; the office changes it."
UNKNOWN_MESSAGE = "This is not a field of the profile."


class ProfileUpdateSerializer(serializers.Serializer):
    """The fields a member may change (members.profile.PROFILE_FIELDS), for the OpenAPI description; the
    values are checked by member_update_profile, as on the web."""

    email = serializers.EmailField(required=False, help_text="Needs `current_password`.")
    phone_number = serializers.CharField(
        required=False,
        help_text="Any form (0712 345 678, +254712345678); stored as 2547XXXXXXXX. Needs `current_password`.",
    )
    other_names = serializers.CharField(required=False, allow_blank=True)
    postal_address = serializers.CharField(required=False, allow_blank=True)
    physical_address = serializers.CharField(required=False, allow_blank=True)
    occupation = serializers.CharField(required=False, allow_blank=True)
    organisation = serializers.CharField(required=False, allow_blank=True)
    notify_by_email = serializers.BooleanField(required=False)
    notify_by_sms = serializers.BooleanField(required=False)
    current_password = serializers.CharField(
        required=False,
        write_only=True,
        help_text="The account's password: required when the email or phone number changes (whoever holds a "
        "stolen token must not redirect password resets or M-Pesa prompts). Throttled per user.",
    )


class ReauthThrottle(UserRateThrottle):
    """Password checks by PATCH /api/members/profile/, per user: a stolen token cannot guess the password."""

    scope = "reauth"

    def get_cache_key(self, request, view):
        if request.method != "PATCH" or not isinstance(request.data, dict) or "current_password" not in request.data:
            return None
        return super().get_cache_key(request, view)


def _changing_reauth_fields(member: Member, data) -> list[str]:
    changing = []
    if "email" in data and normalise_email(data["email"]) != normalise_email(member.user.email):
        changing.append("email")
    if "phone_number" in data:
        try:
            if normalise_phone(data["phone_number"], member.country_id) != member.phone_number:
                changing.append("phone_number")
        except DjangoValidationError:
            pass  # member_update_profile reports the number itself
    return changing


def _check_profile_body(data) -> None:
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object of the fields to change."]})
    errors = {}
    for name, value in data.items():
        if name == "current_password":
            if not isinstance(value, str):
                errors[name] = ["Must be a string."]
        elif name not in PROFILE_FIELDS:
            errors[name] = [READ_ONLY_MESSAGE if name in ProfileSerializer.Meta.fields else UNKNOWN_MESSAGE]
        elif name in BOOLEAN_FIELDS:
            if not isinstance(value, (bool, str)):
                errors[name] = ["Must be true or false."]
        elif value is not None and not isinstance(value, str):
            errors[name] = ["Must be a string."]
    if errors:
        raise exceptions.ValidationError(errors)


class ProfileView(APIView):
    throttle_classes = [ReauthThrottle]

    @extend_schema(responses={200: ProfileSerializer}, tags=["members"])
    def get(self, request):
        return _profile_response(member_of_user_or_404(request.user))

    @extend_schema(
        request=ProfileUpdateSerializer,
        responses={
            200: ProfileSerializer,
            400: error_response(
                "A value is not accepted, `current_password` is missing or wrong, or the body names a read-only "
                "or unknown field (status, membership_number, category, ...): nothing is changed then."
            ),
        },
        tags=["members"],
        description="Change some of your contact details and notification choices. Only the fields sent change. "
        "Fields other than these are read-only and answer 400 naming the field. Changing `email` or "
        "`phone_number` needs `current_password`.",
    )
    def patch(self, request):
        member = member_of_user_or_404(request.user)
        data = request.data
        if hasattr(data, "dict"):  # a form-encoded body: one value a key
            data = data.dict()
        _check_profile_body(data)
        changing = _changing_reauth_fields(member, data)
        if changing:
            what = " and ".join("email address" if name == "email" else "phone number" for name in changing)
            password = data.get("current_password")
            if not password:
                raise exceptions.ValidationError({"current_password": [f"Enter your password to change your {what}."]})
            if not member.user.check_password(password):
                raise exceptions.ValidationError(
                    {"current_password": [f"That is not your current password; your {what} was not changed."]}
                )
        try:
            member_update_profile(
                member=member,
                actor=request.user,
                data={name: value for name, value in data.items() if name in PROFILE_FIELDS},
                request=request,
            )
        except DjangoValidationError as error:
            raise exceptions.ValidationError(
                error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
            ) from None
        return _profile_response(member)


# --- POST /api/members/register/ ------------------------------------------------------------------------


class RegisterThrottle(AnonRateThrottle):
    scope = "register"


# API name -> the form's name, where they differ (the API takes the password once).
RENAMED = {"password": "password1"}
FROM_FORM = {"password1": "password", "password2": "password", "__all__": "non_field_errors"}
CONSENT_FIELD = "accept_privacy_notice"


class ApiRegistrationForm(RegistrationForm):
    """The web's RegistrationForm with the API's encodings: the category by its code and the region by its
    code within the country (the web's select boxes send primary keys). Every rule is the parent's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].to_field_name = "code"
        self.fields["region"] = forms.CharField(required=False, max_length=10)
        self.fields[CONSENT_FIELD].error_messages["required"] = "Accept the privacy notice to register (send true)."

    def clean_region(self):
        code = (self.cleaned_data.get("region") or "").strip()
        country = self.cleaned_data.get("country")
        if not code or country is None:
            return None
        try:
            return Region.objects.select_related("country").get(country=country, code=code)
        except Region.DoesNotExist:
            raise DjangoValidationError(
                f"“{code}” is not a region of {country.name}; see /api/countries/{country.pk}/regions/."
            ) from None


def _document_field(form_field) -> serializers.FileField:
    return serializers.FileField(
        required=False,
        help_text=f"{form_field.label}: {form_field.help_text} Required when the category lists this type in "
        "its required_documents (GET /api/categories/).",
    )


class RegistrationSerializer(serializers.Serializer):
    """What POST /api/members/register/ accepts (multipart/form-data), for the OpenAPI description. The values
    are checked by the web's RegistrationForm: same rules, same messages."""

    email = serializers.EmailField()
    password = serializers.CharField(help_text="Checked by the same password rules as the web.")
    first_name = serializers.CharField()
    other_names = serializers.CharField(required=False)
    last_name = serializers.CharField()
    id_type = serializers.ChoiceField(choices=Member.IdType.choices)
    id_number = serializers.CharField(help_text="National ID, passport or alien ID number.")
    date_of_birth = serializers.DateField()
    gender = serializers.ChoiceField(choices=Member.Gender.choices)
    phone_number = serializers.CharField(help_text="The M-Pesa number you will pay from, e.g. 0712 345 678.")
    country = serializers.CharField(help_text="ISO 3166 alpha-2 code (GET /api/countries/), e.g. KE.")
    region = serializers.CharField(
        required=False, help_text="Region code within the country (GET /api/countries/{code}/regions/), e.g. 047."
    )
    physical_address = serializers.CharField(required=False)
    postal_address = serializers.CharField(required=False)
    occupation = serializers.CharField(required=False)
    organisation = serializers.CharField(required=False)
    category = serializers.CharField(help_text="Membership category code (GET /api/categories/).")
    accept_privacy_notice = serializers.BooleanField(help_text="Must be true: you accept the privacy notice.")

    def get_fields(self):
        fields = super().get_fields()
        form = RegistrationForm()
        for name in DOCUMENT_FIELDS.values():
            fields[name] = _document_field(form.fields[name])
        return fields


def _api_fields() -> set[str]:
    return set(RegistrationSerializer().fields)


def _form_data(data) -> dict:
    values = {}
    for name in _api_fields() - set(DOCUMENT_FIELDS.values()):
        if name not in data:
            continue
        value = data.get(name)
        if name == CONSENT_FIELD:
            # Strictly true or false (a form's checkbox takes any text as ticked); _consent_error says so.
            try:
                value = serializers.BooleanField().to_internal_value(value)
            except exceptions.ValidationError:
                value = False
        if name == "country" and isinstance(value, str):
            value = value.strip().upper()
        values[RENAMED.get(name, name)] = value
    if "password1" in values:
        values["password2"] = values["password1"]  # the API asks once; the form's confirmation then agrees
    return values


def _consent_error(data) -> str | None:
    if CONSENT_FIELD not in data:
        return None
    try:
        serializers.BooleanField().to_internal_value(data.get(CONSENT_FIELD))
    except exceptions.ValidationError:
        return "Must be true or false."
    return None


class RegisterView(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [RegisterThrottle]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": RegistrationSerializer},
        responses={
            201: ProfileSerializer,
            400: error_response("Some fields or documents were not accepted; see fields. Nothing was stored."),
            429: error_response("Too many registrations from this address; see Retry-After."),
        },
        tags=["members"],
        auth=[],
        description="Apply for membership: the same fields and documents as the web's registration form, one "
        "file field per document type (`document_<type>`). Answers the new (pending) member's profile, and no "
        "tokens: log in with POST /api/auth/login/ afterwards.",
    )
    def post(self, request):
        data = request.data
        if not hasattr(data, "get"):
            raise exceptions.ValidationError({"non_field_errors": ["Send the registration as form fields."]})
        unknown = sorted(set(data) - _api_fields())
        errors = {
            name: [READ_ONLY_MESSAGE if name in ProfileSerializer.Meta.fields else UNKNOWN_MESSAGE] for name in unknown
        }
        form = ApiRegistrationForm(data=_form_data(data), files=request.FILES)
        if not form.is_valid():
            for name, messages in form.errors.items():
                errors.setdefault(FROM_FORM.get(name, name), []).extend(messages)
        if (message := _consent_error(data)) is not None:
            errors[CONSENT_FIELD] = [message]
        if errors:
            raise exceptions.ValidationError(errors)
        cleaned = form.cleaned_data
        try:
            member = member_register(
                email=cleaned["email"],
                password=cleaned["password1"],
                first_name=cleaned["first_name"],
                last_name=cleaned["last_name"],
                category=cleaned["category"],
                documents=form.document_uploads(),
                consent_channel="api",  # the privacy notice accepted (the form required it), recorded
                request=request,
                **form.profile(),
            )
        except DjangoValidationError as error:
            raise exceptions.ValidationError(
                error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
            ) from None
        return _profile_response(member, status_code=status.HTTP_201_CREATED)


# --- GET /api/members/certificate/ ----------------------------------------------------------------------


class CertificateView(PDFDownloadMixin, APIView):
    """Your membership certificate, the same PDF as the web portal's."""

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The certificate, as an attachment (certificate-<number>.pdf)."
            ),
            (404, "application/json"): error_response("This account has no membership."),
            (409, "application/json"): error_response(
                "Your membership is not active (pending, suspended, expired...): no certificate now; the message "
                "says your status. Code `certificate_unavailable`."
            ),
        },
        tags=["members"],
    )
    def get(self, request):
        member = member_of_user_or_404(request.user)
        content = certificate_pdf(member)  # CertificateUnavailable answers 409 (api.errors)
        return pdf_attachment(content, f"certificate-{member.membership_number}.pdf")
