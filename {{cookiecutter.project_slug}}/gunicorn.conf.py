"""gunicorn's settings; gunicorn reads ./gunicorn.conf.py when started from this folder.

gunicorn decides whether a request came over HTTPS (wsgi.url_scheme) from the same environment
variable as Django's SECURE_PROXY_SSL_HEADER, so that the two never disagree:

- DJANGO_SECURE_PROXY_SSL_HEADER unset or false: no X-Forwarded-Proto is trusted, from any
  address (gunicorn's own default trusts it from 127.0.0.1 and ::1);
- true: X-Forwarded-Proto is trusted from any address, as Django then does. Set it only where
  every request comes through a proxy that overwrites that header.
"""

import environ

if environ.Env().bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    forwarded_allow_ips = "*"
    secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
else:
    forwarded_allow_ips = ""
    secure_scheme_headers = {}
# Paths (SCRIPT_NAME, PATH_INFO) are never taken from request headers: this app needs none, and a
# client could otherwise send its own through a proxy that passes them on.
forwarder_headers = ""
