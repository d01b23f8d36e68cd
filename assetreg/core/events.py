"""Domain events between areas, so that a lower area never imports a higher one (``docs/ARCHITECTURE.md``).

A lower area announces what happened (a village withdrawn, a household moved, an asset registered or
read); the areas that own the affected rows subscribe in their ``services.py`` and do their own part
inside the same transaction, each writing its own change-log entries. Signals are blinker's (the one
Flask itself uses); every area is imported by the app factory, so every subscriber is connected.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# A village was withdrawn into its successor: sender None, kwargs ``user, old, new, effective_on`` (Places).
# Each receiver moves its area's rows and returns ``{"assets": n}`` or the like, summed by ``collect``.
place_withdrawn = _signals.signal("place-withdrawn")
# A household moved to another village: kwargs ``user, household, village`` (Place).
household_moved = _signals.signal("household-moved")
# An asset was registered: kwargs ``user, asset, household`` (None unless 到户类), ``effective_on``.
asset_registered = _signals.signal("asset-registered")
# Assets were read for output: kwargs ``assets`` (a list); receivers annotate derived facts.
assets_loaded = _signals.signal("assets-loaded")


def collect(signal, **kwargs) -> dict[str, int]:
    """Send ``signal`` and add up the counts the receivers return (``{"assets": 3}`` + ``{"households": 5}``)."""
    total: dict[str, int] = {}
    for _receiver, result in signal.send(None, **kwargs):
        for key, n in (result or {}).items():
            total[key] = total.get(key, 0) + n
    return total
