from django.apps import AppConfig


class APIKeysConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.api_keys"
    label = "api_keys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from . import checks, schema  # noqa: F401  (register the system checks and OpenAPI)
