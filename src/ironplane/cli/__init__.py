"""The ``ironplane`` command line."""
