"""The upload page at `/`: plain HTML, JS and CSS from api/static, no build step."""

from flask import Blueprint, current_app

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def index():
    return current_app.send_static_file("index.html")
