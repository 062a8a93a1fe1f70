"""unify-dash: exclusion troubleshooting for a sales-engagement platform.

One evaluation package (:mod:`unify_dash.engine`) answers "would this contact be
emailed now?" for the send scheduler and for every number on screen.
"""

__version__ = "0.1.0"
