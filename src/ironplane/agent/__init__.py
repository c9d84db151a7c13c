"""The compute-plane agent: dials out to the control plane and drives a runtime.

It imports only ``core`` and ``wire`` from Ironplane (checked by import-linter): no pydantic, no
SQLAlchemy, no FastAPI.
"""
