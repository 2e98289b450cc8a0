"""The Swagger UI page at /api/docs/, under the site's strict Content-Security-Policy.

drf-spectacular's default page runs its start-up code as an inline <script> and has an inline <style>.
The split view serves that script as a separate same-origin file (the same URL with ?script), and our
template (templates/api/swagger_ui.html) moves the style to static/css/api-docs.css, so this page needs
no relaxation at all: tests/browser/test_csp.py opens it, expands an operation and the Authorize dialog,
and Chromium reports no violation. (Swagger UI's React code sets styles through the CSSOM, which CSP
allows.) Should a future Swagger UI need more, relax it here with csp.decorators.csp_update for this
view only.
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.views import SpectacularSwaggerSplitView


class TwoFactorJWTScheme(SimpleJWTScheme):
    """The schema's bearer scheme ("jwtAuth") for our authentication class, as for simplejwt's own.

    Registered by being defined; this module loads with the API's URLs, before any schema is built.
    """

    target_class = "api.authentication.TwoFactorJWTAuthentication"


class SwaggerDocsView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"
