"""feedbot's Telegram side: application wiring, handlers, keyboards, the CLI and delivery."""
