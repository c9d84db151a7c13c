"""Stdlib-only kernel shared by every part: errors, diagnostics, names, quantities, durations."""
