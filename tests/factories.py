import datetime

import factory
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management import call_command

from accounts.models import User
from accounts.roles import MEMBER
from members.models import Country, Document, Member, MembershipCategory, Region
from members.sample_files import sample_jpeg, sample_pdf, sample_png
from members.search import member_search_text

PASSWORD = "correct horse battery staple"


def load_reference_data():
    """Countries, regions and categories from the fixtures the brief's loaddata commands use."""
    if not Country.objects.exists():
        for name in ("countries", "regions", "membership_categories"):
            call_command("loaddata", str(settings.BASE_DIR / "fixtures" / f"{name}.json"), verbosity=0)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MemberFactory(factory.django.DjangoModelFactory):
    """A pending applicant with every document its category requires, awaiting review."""

    class Meta:
        model = Member
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    category = factory.LazyFunction(lambda: MembershipCategory.objects.get(code="full"))
    id_number = factory.Sequence(lambda n: f"{20000000 + n}")
    date_of_birth = datetime.date(1990, 1, 15)
    gender = Member.Gender.FEMALE
    phone_number = factory.Sequence(lambda n: f"2547{n % 100000000:08d}")
    country = factory.LazyFunction(lambda: Country.objects.get(pk="KE"))
    region = factory.LazyFunction(lambda: Region.objects.get(country="KE", code="047"))
    physical_address = "Kenyatta Avenue, Nairobi"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # As member_register stores it: searchable from the start.
        member = model_class(*args, **kwargs)
        member.search_text = member_search_text(member)
        member.save(force_insert=True)
        return member

    @factory.post_generation
    def documents(obj, create, extracted, **kwargs):
        if not create:
            return
        obj.user.groups.add(Group.objects.get_or_create(name=MEMBER)[0])
        for code in obj.category.required_documents if extracted is None else extracted:
            DocumentFactory(member=obj, doc_type=code)


SAMPLES = {
    "national_id": ("id.pdf", "application/pdf", sample_pdf),
    "passport_photo": ("photo.jpg", "image/jpeg", sample_jpeg),
    "certificate": ("certificate.png", "image/png", sample_png),
    "other": ("other.pdf", "application/pdf", sample_pdf),
}


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    member = factory.SubFactory(MemberFactory)
    doc_type = "national_id"
    original_name = factory.LazyAttribute(lambda o: SAMPLES[o.doc_type][0])
    content_type = factory.LazyAttribute(lambda o: SAMPLES[o.doc_type][1])
    file = factory.LazyAttribute(lambda o: ContentFile(SAMPLES[o.doc_type][2](), name=f"upload{o.original_name[-4:]}"))
    size = factory.LazyAttribute(lambda o: o.file.size)
