"""The one module-level app: what gunicorn imports (`gunicorn api.wsgi:app`)."""

from api import create_app

app = create_app()
