from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (register the deployment checks)
