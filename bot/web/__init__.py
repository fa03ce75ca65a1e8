"""The bot's web side: one ASGI app (Starlette, served by uvicorn in the bot's event loop)
with the webhook, /healthz and the owners' dashboard (a Telegram Mini App)."""
