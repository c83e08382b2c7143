"""Channel adapters: platform payloads to our messages, our replies to platform calls."""
