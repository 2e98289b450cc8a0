from django.urls import path

from . import certificate_views, member_views, views

app_name = "dashboard"
urlpatterns = [
    path("", views.staff_home, name="home"),
    path("applications/", views.applications, name="applications"),
    path("members/", member_views.member_list, name="members"),
    path("members/remind/", member_views.member_list_remind, name="members_remind"),
    path("members/<int:pk>/suspend/", member_views.member_suspend_view, name="member_suspend"),
    path("members/<int:pk>/reinstate/", member_views.member_reinstate_view, name="member_reinstate"),
    path("members/<int:pk>/", views.member_detail, name="member_detail"),
    path("members/<int:pk>/approve/", views.member_approve_view, name="member_approve"),
    path("members/<int:pk>/reject/", views.member_reject_view, name="member_reject"),
    path("members/<int:pk>/record-payment/", views.member_record_payment_view, name="member_record_payment"),
    path("members/<int:pk>/certificate/", certificate_views.member_certificate, name="member_certificate"),
    path("documents/<int:pk>/verify/", views.document_verify_view, name="document_verify"),
    path("documents/<int:pk>/reject/", views.document_reject_view, name="document_reject"),
]
