"""The bot's HTTP side: one ASGI app (Starlette) served by uvicorn in the bot's event loop."""
