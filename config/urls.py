from django.conf import settings
from django.contrib import admin
from django.urls import include, path

admin.site.site_header = f"{settings.ORGANISATION_NAME} administration"
admin.site.site_title = settings.ORGANISATION_NAME

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("members.urls")),
    path("portal/", include("portal.urls")),
    path("staff/", include("dashboard.urls")),
]
