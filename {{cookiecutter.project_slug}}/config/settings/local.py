"""Development settings: DEBUG on, secrets read from the .env file beside manage.py."""

from .base import *  # noqa: F403
from .base import BASE_DIR, env

# Real environment variables win over the file.
env.read_env(BASE_DIR / ".env")

DEBUG = True
API_DOCS = True
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# Serve static files from the apps' folders, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
