from django.urls import path

from . import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("documents/upload/", views.document_upload, name="document_upload"),
]
