import datetime

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.emails import NormalisedEmailField, normalise_email
from core.phones import normalise_phone

from .models import Country, DocumentType, Member, MembershipCategory, Region
from .services import DocumentUpload
from .uploads import ALLOWED_TYPES, EXTENSIONS, check_upload
from .uploads import describe_types as _describe

DOCUMENT_FIELDS = {code: f"document_{code}" for code in DocumentType.values}


def _accept_attr(doc_type):
    return ",".join(ext for ext, mime in EXTENSIONS.items() if mime in ALLOWED_TYPES[DocumentType(doc_type)])


class CategorySelect(forms.Select):
    """Each option carries the documents its category requires, for the page's script."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-required-documents"] = " ".join(instance.required_documents)
        return option


class RegionSelect(forms.Select):
    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-country"] = instance.country_id
        return option


class RegistrationForm(forms.Form):
    # Account
    email = NormalisedEmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Confirm password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    # Person
    first_name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    other_names = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    id_type = forms.ChoiceField(label="ID type", choices=Member.IdType.choices)
    id_number = forms.CharField(label="ID or passport number", max_length=20)
    date_of_birth = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    gender = forms.ChoiceField(choices=Member.Gender.choices)
    # Contact
    phone_number = forms.CharField(
        max_length=20,
        help_text="The M-Pesa number you will pay from, e.g. 0712 345 678.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    country = forms.ModelChoiceField(queryset=Country.objects.all(), initial="KE")
    region = forms.ModelChoiceField(
        label="County / region",
        queryset=Region.objects.select_related("country"),
        required=False,
        widget=RegionSelect,
    )
    physical_address = forms.CharField(
        max_length=255, required=False, widget=forms.TextInput(attrs={"autocomplete": "street-address"})
    )
    postal_address = forms.CharField(max_length=200, required=False, help_text="e.g. P.O. Box 1234-00100, Nairobi")
    occupation = forms.CharField(max_length=100, required=False)
    organisation = forms.CharField(label="Employer or organisation", max_length=150, required=False)
    # Membership
    category = forms.ModelChoiceField(
        label="Membership category", queryset=MembershipCategory.objects.filter(is_active=True), widget=CategorySelect
    )
    # Data protection: recorded as a consent to the current privacy notice version (accounts.consents).
    accept_privacy_notice = forms.BooleanField(
        label="I have read the privacy notice",
        error_messages={"required": "Tick the box to confirm you have read the privacy notice."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = settings.DOCUMENT_MAX_UPLOAD_MB
        for code, field_name in DOCUMENT_FIELDS.items():
            self.fields[field_name] = forms.FileField(
                label=DocumentType(code).label,
                required=False,
                help_text=f"{_describe(ALLOWED_TYPES[DocumentType(code)])}, up to {limit} MB.",
                widget=forms.ClearableFileInput(attrs={"accept": _accept_attr(code), "data-document-type": code}),
            )

    def document_fields(self):
        return [self[name] for name in DOCUMENT_FIELDS.values()]

    def clean_email(self):
        email = normalise_email(self.cleaned_data["email"])
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this email address already exists. Log in, or reset your password.")
        return email

    def clean_id_number(self):
        value = "".join(self.cleaned_data["id_number"].split()).upper()
        if not value.isalnum():
            raise ValidationError("Use letters and digits only.")
        id_type = self.data.get("id_type")
        if id_type and Member.objects.filter(id_type=id_type, id_number=value).exists():
            raise ValidationError("A member with this ID number is already registered.")
        return value

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        today = timezone.localdate()
        if born > today:
            raise ValidationError("The date of birth is in the future.")
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age < settings.MEMBER_MINIMUM_AGE:
            raise ValidationError(f"Members must be at least {settings.MEMBER_MINIMUM_AGE} years old.")
        if born < today - datetime.timedelta(days=366 * 120):
            raise ValidationError("Check the year of birth.")
        return born

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        elif data.get("password1"):
            probe = get_user_model()(
                email=data.get("email", ""), first_name=data.get("first_name", ""), last_name=data.get("last_name", "")
            )
            try:
                password_validation.validate_password(data["password1"], probe)
            except ValidationError as error:
                self.add_error("password1", error)
        country = data.get("country")
        region = data.get("region")
        if country and region and region.country_id != country.pk:
            self.add_error("region", f"{region.name} is not in {country.name}.")
        if country and not region and country.regions.exists():
            self.add_error("region", "Choose your county or region.")
        if "phone_number" in data:
            try:
                data["phone_number"] = normalise_phone(data["phone_number"], country.pk if country else None)
            except ValidationError as error:
                self.add_error("phone_number", error)
        category = data.get("category")
        if category:
            for code in category.required_documents:
                field_name = DOCUMENT_FIELDS[code]
                if not data.get(field_name) and field_name not in self.errors:
                    self.add_error(field_name, f"{category.name} membership needs this document.")
        self._check_documents(data)
        if self.errors and any(data.get(name) for name in DOCUMENT_FIELDS.values()):
            self.files_need_reselecting = True
        return data

    def _check_documents(self, data):
        for code, field_name in DOCUMENT_FIELDS.items():
            upload = data.get(field_name)
            if upload:
                try:
                    check_upload(upload, code)
                except ValidationError as error:
                    self.add_error(field_name, error)

    files_need_reselecting = False

    def document_uploads(self):
        return [
            DocumentUpload(doc_type=code, file=self.cleaned_data[field_name])
            for code, field_name in DOCUMENT_FIELDS.items()
            if self.cleaned_data.get(field_name)
        ]

    def profile(self):
        keys = [
            "other_names",
            "id_type",
            "id_number",
            "date_of_birth",
            "gender",
            "phone_number",
            "country",
            "region",
            "physical_address",
            "postal_address",
            "occupation",
            "organisation",
        ]
        return {key: self.cleaned_data[key] for key in keys}


class DocumentUploadForm(forms.Form):
    doc_type = forms.ChoiceField(choices=DocumentType.choices, widget=forms.HiddenInput)
    file = forms.FileField()

    def clean(self):
        data = super().clean()
        if data.get("doc_type") and data.get("file"):
            try:
                check_upload(data["file"], data["doc_type"])
            except ValidationError as error:
                self.add_error("file", error)
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
