"""Telegram handlers, one module per audience; bot.app routes updates and presses to them."""
