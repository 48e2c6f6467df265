"""Development settings: DEBUG on, and every variable may come from .env beside manage.py."""

from pathlib import Path

import environ

# Before base.py, so that every variable it reads (DATABASE_URL, REDIS_URL, DJANGO_LOG_LEVEL...)
# can come from .env too. Real environment variables win over the file.
environ.Env.read_env(Path(__file__).resolve().parent.parent.parent / ".env")

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

DEBUG = True
# The admin's second factor (base.py) is off here, so that signing in on your machine takes a
# password only; DJANGO_ADMIN_TWO_FACTOR=true turns it on to try it. Production always asks.
ADMIN_TWO_FACTOR = env.bool("DJANGO_ADMIN_TWO_FACTOR", default=False)
API_DOCS = env.bool("DJANGO_API_DOCS", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# Serve static files from the apps' folders, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
