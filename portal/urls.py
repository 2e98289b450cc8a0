from django.urls import path

from . import certificate_views, notification_views, profile_views, views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("documents/upload/", views.document_upload, name="document_upload"),
    path("profile/", profile_views.profile, name="profile"),
    path("notifications/", notification_views.notification_list, name="notifications"),
    path("notifications/<int:pk>/read/", notification_views.notification_read, name="notification_read"),
    path("notifications/read-all/", notification_views.notification_read_all, name="notifications_read_all"),
    path("certificate/", certificate_views.certificate, name="certificate"),
]
