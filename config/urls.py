from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from core import health
from members import verification_views
from payments import c2b_views
from payments import views as payments_views

admin.site.site_header = f"{settings.ORGANISATION_NAME} administration"
admin.site.site_title = settings.ORGANISATION_NAME

# Plain pages on the web, the API's error shape under /api/; never a traceback (core.errors).
handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.page_not_found"
handler500 = "core.errors.server_error"

urlpatterns = [
    # For load balancers and monitoring: database, cache and broker up? (also over plain HTTP).
    path("healthz", health.healthz, name="healthz"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("members.urls")),
    path("portal/", include("portal.urls")),
    path("staff/", include("dashboard.urls")),
    path("payments/", include("payments.urls")),
    # The privacy notice (/privacy/) and the member's "My data and privacy" pages (/portal/privacy/...).
    path("", include("privacy.urls")),
    # Public: the address in a certificate's QR code. Anyone holding the token sees the membership's standing.
    path("verify/<slug:token>/", verification_views.verify, name="verify_membership"),
    # Daraja posts STK results here; the last segment is the payment's secret token (MPESA_CALLBACK_URL).
    path("api/mpesa/callback/", payments_views.mpesa_callback, name="mpesa_callback_untokened"),
    path("api/mpesa/callback/<str:token>/", payments_views.mpesa_callback, name="mpesa_callback"),
    # Daraja posts Paybill/Till payments here (C2B); the segment is MPESA_C2B_URL_SECRET (payments.c2b_views).
    path("api/c2b/<str:secret>/confirmation/", c2b_views.c2b_confirmation, name="c2b_confirmation"),
    path("api/c2b/<str:secret>/validation/", c2b_views.c2b_validation, name="c2b_validation"),
    path("api/", include("api.urls")),
]
