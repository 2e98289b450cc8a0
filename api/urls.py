"""Everything under /api/ except the Daraja callback (config/urls.py, built with the payments pages)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from members import api as members_api
from members import api_reference
from payments import api as payments_api

from . import auth

app_name = "api"
urlpatterns = [
    path("auth/login/", auth.LoginView.as_view(), name="login"),
    path("auth/refresh/", auth.RefreshView.as_view(), name="refresh"),
    path("auth/logout/", auth.LogoutView.as_view(), name="logout"),
    path("members/profile/", members_api.ProfileView.as_view(), name="profile"),
    path("categories/", api_reference.CategoryList.as_view(), name="categories"),
    path("countries/", api_reference.CountryList.as_view(), name="countries"),
    path("countries/<str:code>/regions/", api_reference.RegionList.as_view(), name="regions"),
    path("payments/history/", payments_api.PaymentHistoryView.as_view(), name="payment_history"),
    path("payments/mpesa/initiate/", payments_api.InitiateView.as_view(), name="payment_initiate"),
    path("payments/<str:payment_reference>/status/", payments_api.PaymentStatusView.as_view(), name="payment_status"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
