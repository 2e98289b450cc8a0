from django.urls import path

from . import views

app_name = "privacy"
urlpatterns = [
    path("privacy/", views.notice, name="notice"),
    path("portal/privacy/", views.portal, name="portal"),
    path("portal/privacy/accept/", views.accept, name="accept"),
    path("portal/privacy/consents/<slug:purpose>/", views.consent, name="consent"),
    path("portal/privacy/download/", views.download, name="download"),
    path("portal/privacy/erasure/", views.erasure, name="erasure"),
    path("portal/privacy/erasure/cancel/", views.erasure_cancel_view, name="erasure_cancel"),
]
