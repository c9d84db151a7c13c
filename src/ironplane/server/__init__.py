"""The control plane: REST API, identity and access, the versioned manifest store, the audit log.

The only part that imports FastAPI, SQLAlchemy and Alembic. It never dials into a cluster:
agents dial out to it.
"""
