"""The bot's web side: the owners' dashboard (a Telegram Mini App) and its ASGI app."""
