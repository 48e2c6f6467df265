"""The project's URLs plus the benchmark's two views (config/bench_views.py)."""

from config import urls as project_urls
from config.bench_views import OpenWhoAmIView, PackageWhoAmIView
from django.urls import path

urlpatterns = [
    *project_urls.urlpatterns,
    path("bench/open-whoami/", OpenWhoAmIView.as_view()),
    path("bench/package-whoami/", PackageWhoAmIView.as_view()),
]
handler404 = getattr(project_urls, "handler404", None)
handler500 = getattr(project_urls, "handler500", None)
