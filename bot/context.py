"""The bot's Application and callback context: typed Services and the caller's language.

Every handler and job takes a `FeedbotContext` (PTB's `ContextTypes(context=...)`, as in
its examples/contexttypesbot.py); `context.services` is the one `Services` object that
`bot.app` builds in post_init and keeps on the `FeedbotApplication`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from telegram import Update, User
from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.i18n import normalize_language
from bot.services import Services
from storage import users as user_repo
from storage.models import User as StoredUser


class FeedbotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The context of every feedbot handler and job."""

    @property
    def services(self) -> Services:
        """The Services of the running bot (set in post_init, before any update or job)."""
        return feedbot_application(self.application).services

    async def language(self, update: Update) -> str:
        """The language of the user the update came from."""
        return await language(self.services, update)

    async def caller(self, update: Update) -> Caller:
        """Who sent the update, and their language."""
        return Caller(self.user(update), await language(self.services, update))

    @staticmethod
    def user(update: Update) -> User:
        """Who sent the update. Every handler has a user: updates from no user (channel
        posts, polls) are dropped first by `misc.guard_private`."""
        user = update.effective_user
        if user is None:
            raise ValueError(f"update {update.update_id} comes from no user")
        return user


class FeedbotApplication(
    Application[
        ExtBot[None],
        FeedbotContext,
        dict[Any, Any],
        dict[Any, Any],
        dict[Any, Any],
        JobQueue[FeedbotContext],
    ]
):
    """PTB's Application holding the bot's Services (`ApplicationBuilder.application_class`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        """The Services built in post_init; RuntimeError before it or after shutdown."""
        if self._services is None:
            raise RuntimeError("the bot is not started: its services are built in post_init")
        return self._services

    @services.setter
    def services(self, services: Services) -> None:
        self._services = services

    def release_services(self) -> Services | None:
        """Take the Services away at shutdown (None if the bot never started)."""
        services, self._services = self._services, None
        return services


def feedbot_application(app: Application[Any, Any, Any, Any, Any, Any]) -> FeedbotApplication:
    """`app` as the FeedbotApplication that bot.app builds (PTB types its hooks' argument
    as a plain Application)."""
    if not isinstance(app, FeedbotApplication):
        raise TypeError("feedbot runs in the FeedbotApplication that bot.app builds")
    return app


class Caller(NamedTuple):
    """The user an update came from and the language to answer them in."""

    user: User
    lang: str


async def language(services: Services, update: Update) -> str:
    """The user's language: an explicit /lang choice, else their Telegram setting."""
    user = update.effective_user
    if user is None:
        return "en"
    cached = services.cached_language(user.id)
    if cached is not None:
        return cached
    return known_language(services, user, await user_repo.get_user(services.db.conn, user.id))


def known_language(services: Services, user: User, stored: StoredUser | None) -> str:
    """`user`'s language from their row just read or written (`stored`), remembered for
    the next updates: an explicit /lang choice, else their Telegram setting."""
    lang = (stored.lang if stored is not None else None) or normalize_language(user.language_code)
    services.remember_language(user.id, lang)
    return lang


async def user_language(services: Services, telegram_id: int) -> str:
    """A user's stored language, for messages the bot starts itself."""
    cached = services.cached_language(telegram_id)
    if cached is not None:
        return cached
    user = await user_repo.get_user(services.db.conn, telegram_id)
    return normalize_language(user.lang if user is not None else None)
