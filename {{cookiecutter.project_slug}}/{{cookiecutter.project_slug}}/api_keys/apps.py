from django.apps import AppConfig


class APIKeysConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.api_keys"
    label = "api_keys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from . import checks, events, schema  # noqa: F401  (checks and schema register themselves)

        events.connect()  # every change to a key leaves an event
