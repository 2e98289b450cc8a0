from django.urls import path

from . import views

app_name = "members"

urlpatterns = [
    path("register/", views.register, name="register"),
    path("documents/<int:pk>/", views.document_download, name="document_download"),
]
