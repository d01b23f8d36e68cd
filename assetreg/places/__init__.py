"""Places (行政区划): counties, towns and villages, keyed by the statistical division code."""
