"""The app's own settings: it refuses to import without them."""

import os

DATABASE_URL = os.environ["APP_DATABASE_URL"]
