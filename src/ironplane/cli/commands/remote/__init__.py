"""Commands that talk to the control plane through the SDK (``ironplane.cli.session``).

Each module imports typer and the CLI's light helpers only; the SDK (httpx, pydantic) and rich
are imported inside the command functions, so ``ironplane --help`` stays quick.
"""
