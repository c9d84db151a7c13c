"""Agent connections: the WebSocket sessions agents dial, and the hub that tracks them."""
