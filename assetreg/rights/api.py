"""/api/v1 routes of the rights area (being built)."""

from ..web.api import api_blueprint

blp = api_blueprint("rights", __name__, "", "rights")
