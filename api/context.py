"""The settings and clients wired into the app at start-up."""

from flask import current_app

import storage


def settings() -> storage.Settings:
    return current_app.extensions["thumbnails.settings"]


def backends() -> storage.Backends:
    return current_app.extensions["thumbnails.backends"]
