"""Test doubles for the Telegram Bot API: server model, PTB transport, HTTP server."""
