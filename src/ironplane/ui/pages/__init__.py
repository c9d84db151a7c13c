"""One module per area of the UI; each has a ``router`` mounted under ``/ui``."""
