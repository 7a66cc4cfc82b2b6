"""The settings and clients wired into the app at start-up."""

from flask import current_app

import core
import storage


def settings() -> core.Settings:
    return current_app.extensions["thumbnails.settings"]


def backends() -> storage.Backends:
    return current_app.extensions["thumbnails.backends"]
