from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class UsersConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.users"
    label = "users"
    verbose_name = "Users"


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin, on the site that asks staff for a second factor (admin_site.py); named
    in INSTALLED_APPS in place of django.contrib.admin."""

    default = False
    default_site = "{{ cookiecutter.project_slug }}.users.admin_site.AdminSite"
