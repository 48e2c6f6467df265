"""The project's URLs plus the benchmark's views (config/bench_views.py).

The views go into the same `api/v1/` include as whoami, ahead of the project's own views,
so that resolving their URLs costs what resolving whoami's does (whoami's tries a few more
patterns): each differs from whoami in the key check only, not in URL depth.
"""

import importlib

from config import urls as project_urls
from config.bench_views import FloorWhoAmIView, OpenWhoAmIView, PackageWhoAmIView
from django.urls import include, path
from django.urls.resolvers import URLResolver

API_PREFIX = "api/v1/"


def with_bench_views(pattern):
    """The project's `api/v1/` include with the benchmark's views first; others unchanged."""
    if not isinstance(pattern, URLResolver) or str(pattern.pattern) != API_PREFIX:
        return pattern
    api_urls = importlib.import_module(pattern.urlconf_name.__name__)
    views = [
        path("open-whoami/", OpenWhoAmIView.as_view()),
        path("floor-whoami/", FloorWhoAmIView.as_view()),
        path("package-whoami/", PackageWhoAmIView.as_view()),
        *api_urls.urlpatterns,
    ]
    return path(API_PREFIX, include((views, api_urls.app_name), namespace=pattern.namespace))


urlpatterns = [with_bench_views(pattern) for pattern in project_urls.urlpatterns]
if not any(str(pattern.pattern) == API_PREFIX for pattern in urlpatterns):
    raise RuntimeError(f"The project's URLs have no {API_PREFIX!r} include to add to.")
handler404 = getattr(project_urls, "handler404", None)
handler500 = getattr(project_urls, "handler500", None)
