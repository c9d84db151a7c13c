"""msgspec contracts that cross process boundaries (compiler → store → agent)."""
