"""The HTTP edge: error handlers, the API object and its auth guard, pages."""
