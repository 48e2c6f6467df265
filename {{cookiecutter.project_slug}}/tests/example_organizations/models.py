from typing import ClassVar

from django.db import models

from {{ cookiecutter.project_slug }}.api_keys.models import (
    AbstractAPIKey,
    BaseAPIKeyManager,
)


class Organization(models.Model):
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class OrganizationAPIKeyManager(BaseAPIKeyManager):
    def get_usable_keys(self) -> models.QuerySet:
        return super().get_usable_keys().filter(organization__active=True)


class OrganizationAPIKey(AbstractAPIKey):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )

    objects: ClassVar[OrganizationAPIKeyManager] = OrganizationAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        abstract = False
        verbose_name = "organization API key"
