from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from members import verification_views
from payments import views as payments_views

admin.site.site_header = f"{settings.ORGANISATION_NAME} administration"
admin.site.site_title = settings.ORGANISATION_NAME

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("members.urls")),
    path("portal/", include("portal.urls")),
    path("staff/", include("dashboard.urls")),
    path("payments/", include("payments.urls")),
    # Public: the address in a certificate's QR code. Anyone holding the token sees the membership's standing.
    path("verify/<slug:token>/", verification_views.verify, name="verify_membership"),
    # Daraja posts STK results here; the last segment is the payment's secret token (MPESA_CALLBACK_URL).
    path("api/mpesa/callback/", payments_views.mpesa_callback, name="mpesa_callback_untokened"),
    path("api/mpesa/callback/<str:token>/", payments_views.mpesa_callback, name="mpesa_callback"),
    path("api/", include("api.urls")),
]
