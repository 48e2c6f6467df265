"""The people who sign in: the admin's staff, who create, rotate and revoke keys.

The project's own user model from its first migration (AUTH_USER_MODEL = "users.User"), so
that fields can be added later with a plain migration: swapping the user model of a project
that has data is a hard change. API clients are not users: they authenticate with keys.
"""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person with an account; add the fields your team needs here."""
