"""The web UI: server-rendered pages (Jinja2, htmx) served by the control plane under ``/ui``.

Pages call the same service layer and the same declarative access rules as the JSON API; the
login session travels in an HttpOnly cookie that only ``/ui`` reads, and every form that changes
something carries a CSRF token (docs/ui.md).
"""
