"""The staff area (/staff/): every view lives in dashboard/<domain>/ (Oscar-style), URL names in the
`dashboard` namespace."""

from django.urls import path

from .audit import views as audit_views
from .home import views as home_views
from .members import certificate_views, export_views, list_views
from .members import views as member_views
from .payments import views as payment_views
from .privacy import views as privacy_views
from .security import views as security_views

app_name = "dashboard"
urlpatterns = [
    path("", home_views.staff_home, name="home"),
    path("applications/", member_views.applications, name="applications"),
    path("members/", list_views.member_list, name="members"),
    path("members/remind/", list_views.member_list_remind, name="members_remind"),
    path("members/<int:pk>/suspend/", list_views.member_suspend_view, name="member_suspend"),
    path("members/<int:pk>/reinstate/", list_views.member_reinstate_view, name="member_reinstate"),
    path("members/<int:pk>/", member_views.member_detail, name="member_detail"),
    path("members/<int:pk>/approve/", member_views.member_approve_view, name="member_approve"),
    path("members/<int:pk>/reject/", member_views.member_reject_view, name="member_reject"),
    path("members/<int:pk>/record-payment/", payment_views.member_record_payment, name="member_record_payment"),
    path("members/<int:pk>/certificate/", certificate_views.member_certificate, name="member_certificate"),
    path("documents/<int:pk>/verify/", member_views.document_verify_view, name="document_verify"),
    path("documents/<int:pk>/reject/", member_views.document_reject_view, name="document_reject"),
    path("audit/", audit_views.audit_list, name="audit"),
    path("audit/<int:pk>/", audit_views.audit_detail, name="audit_detail"),
    path("payments/", payment_views.payment_list, name="payments"),
    path("payments/<str:reference>/", payment_views.payment_detail, name="payment_detail"),
    path("payments/<str:reference>/settle/", payment_views.payment_settle, name="payment_settle"),
    # Member-list exports.
    path("members/export/", export_views.member_export, name="member_export"),
    path("exports/", export_views.exports, name="exports"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export_download"),
    # Failed-login lockouts (accounts.security), for the Admin.
    path("security/lockouts/", security_views.lockouts, name="security_lockouts"),
    path("security/lockouts/clear/", security_views.lockout_clear_view, name="security_lockout_clear"),
    # Members' erasure requests (Data Protection Act 2019).
    path("erasure-requests/", privacy_views.erasure_requests, name="erasure_requests"),
    path("erasure-requests/<int:pk>/approve/", privacy_views.erasure_approve_view, name="erasure_approve"),
    path("erasure-requests/<int:pk>/refuse/", privacy_views.erasure_refuse_view, name="erasure_refuse"),
]
