"""Telegram handlers, one module per audience; `register_all` adds them to the application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.callbacks import Action, Callback

ExtraCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE, Callback], Awaitable[None]]

# Button actions owned by modules outside this package's core (settings, pulses).
extra_callbacks: dict[Action, ExtraCallback] = {}


def register_all(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add every handler in the order they must be tried."""
    from bot.handlers import admin, digest, member, misc, owner, start

    private = filters.ChatType.PRIVATE
    app.add_handler(TypeHandler(Update, misc.skip_redelivered), group=-2)
    app.add_handler(TypeHandler(Update, misc.guard_private), group=-1)
    app.add_handler(CommandHandler("start", start.on_start, filters=private))
    app.add_handler(CommandHandler("help", misc.on_help, filters=private))
    app.add_handler(CommandHandler("lang", misc.on_lang, filters=private))
    app.add_handler(CommandHandler("cancel", misc.on_cancel, filters=private))
    app.add_handler(CommandHandler("evaluate", member.on_menu, filters=private))
    owner.register(app)
    digest.register(app)
    admin.register(app)
    app.add_handler(CallbackQueryHandler(misc.on_callback))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, misc.on_edited))
    app.add_handler(MessageHandler(filters.COMMAND & private, misc.on_unknown_command))
    app.add_handler(MessageHandler(filters.TEXT & private, misc.on_text))
    app.add_handler(MessageHandler(private & ~filters.TEXT, misc.on_other_content))
    app.add_error_handler(misc.on_error)
