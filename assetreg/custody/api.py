"""/api/v1 routes of the custody area (being built)."""

from ..web.api import api_blueprint

blp = api_blueprint("custody", __name__, "", "custody")
