"""One module per spec kind: each builds that kind's base objects into a ``Build``."""
