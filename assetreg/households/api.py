"""/api/v1 routes of the households area (being built)."""

from ..web.api import api_blueprint

blp = api_blueprint("households", __name__, "", "households")
