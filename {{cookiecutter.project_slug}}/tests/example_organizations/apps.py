from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    """A custom key model, as docs/customising-the-key-model.md describes it; installed by the
    test settings only."""

    name = "tests.example_organizations"
    label = "example_organizations"
