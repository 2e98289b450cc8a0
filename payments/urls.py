from django.urls import path

from . import views

app_name = "payments"
urlpatterns = [
    path("", views.history, name="history"),
    path("pay/", views.pay, name="pay"),
    path("<str:reference>/", views.detail, name="detail"),
    path("<str:reference>/status/", views.status, name="status"),
    path("<str:reference>/receipt/", views.receipt, name="receipt"),
]
