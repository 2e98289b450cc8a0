"""Everything under /api/ except the Daraja callback (config/urls.py, built with the payments pages)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from members import api as members_api
from members import api_reference
from members import api_staff as staff_api
from payments import api as payments_api
from privacy import api as privacy_api

from . import auth, docs

app_name = "api"
urlpatterns = [
    path("auth/login/", auth.LoginView.as_view(), name="login"),
    path("auth/refresh/", auth.RefreshView.as_view(), name="refresh"),
    path("auth/logout/", auth.LogoutView.as_view(), name="logout"),
    path("members/profile/", members_api.ProfileView.as_view(), name="profile"),
    path("members/register/", members_api.RegisterView.as_view(), name="register"),
    path("members/certificate/", members_api.CertificateView.as_view(), name="certificate"),
    # The caller's own data as a zip (privacy/api.py; Data Protection Act 2019).
    path("members/data-export/", privacy_api.DataExportView.as_view(), name="data_export"),
    path("categories/", api_reference.CategoryList.as_view(), name="categories"),
    path("countries/", api_reference.CountryList.as_view(), name="countries"),
    path("countries/<str:code>/regions/", api_reference.RegionList.as_view(), name="regions"),
    path("payments/history/", payments_api.PaymentHistoryView.as_view(), name="payment_history"),
    path("payments/mpesa/initiate/", payments_api.InitiateView.as_view(), name="payment_initiate"),
    path("payments/<str:payment_reference>/status/", payments_api.PaymentStatusView.as_view(), name="payment_status"),
    path("payments/<str:payment_reference>/receipt/", payments_api.ReceiptView.as_view(), name="payment_receipt"),
    # Staff (members/api_staff.py): the same permissions as the web dashboard.
    path("staff/members/", staff_api.StaffMemberListView.as_view(), name="staff_members"),
    path("staff/members/<int:pk>/", staff_api.StaffMemberDetailView.as_view(), name="staff_member_detail"),
    path("staff/members/<int:pk>/approve/", staff_api.StaffMemberApproveView.as_view(), name="staff_member_approve"),
    path("staff/members/<int:pk>/reject/", staff_api.StaffMemberRejectView.as_view(), name="staff_member_reject"),
    path("staff/documents/<int:pk>/verify/", staff_api.StaffDocumentVerifyView.as_view(), name="staff_document_verify"),
    path("staff/documents/<int:pk>/reject/", staff_api.StaffDocumentRejectView.as_view(), name="staff_document_reject"),
    path("staff/documents/<int:pk>/file/", staff_api.StaffDocumentFileView.as_view(), name="staff_document_file"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Under the site's CSP: the start-up script comes from the same URL with ?script (api/docs.py).
    path("docs/", docs.SwaggerDocsView.as_view(url_name="api:schema"), name="docs"),
]
