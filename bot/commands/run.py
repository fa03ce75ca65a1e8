"""`feedbot run`: start the bot with long polling, or `--webhook` behind a reverse proxy."""

from __future__ import annotations

import argparse
import sqlite3
import sys

from bot.commands.common import (
    CommandError,
    add_database_option,
    check_database,
    database_error,
    load_catalog,
    open_checked,
    run_async,
    settings_from,
)
from bot.commands.demo import feedbot_command
from storage.connection import DatabaseUnavailable


def no_token(program: str) -> str:
    """The one line for a missing token: how to get one, and the demo command to paste."""
    return (
        "no bot token: create a bot with @BotFather in Telegram (/newbot), put "
        "TELEGRAM_BOT_TOKEN=<token> in .env (see .env.example) and run it again; "
        f"to try everything without Telegram, run `{program} demo`."
    )


def run(args: argparse.Namespace) -> int:
    """Run until Ctrl-C or SIGTERM; the database closes cleanly on the way out."""
    settings = settings_from(args)
    if settings.token is None:
        raise CommandError(no_token(feedbot_command()), exit_code=2)
    settings.secret_bytes()  # fail with the one-line explanation before anything starts
    webhook = bool(getattr(args, "webhook", False))
    if webhook:
        settings.webhook()  # each missing setting is one line, named
    if settings.dashboard_on and settings.listen is None:
        raise CommandError(
            "FEEDBOT_PUBLIC_URL turns the dashboard on, but FEEDBOT_LISTEN is not set: set it "
            "to the host:port the reverse proxy forwards FEEDBOT_PUBLIC_URL to (e.g. "
            "127.0.0.1:8080), or unset FEEDBOT_PUBLIC_URL",
            exit_code=2,
        )
    # Surveys and database are checked before logging starts, so a mistake in either is
    # one line, not a traceback from inside the running application.
    catalog = load_catalog(settings)
    check_database(settings.database, create=True)
    run_async(lambda: _check_opens(settings.database))

    # Here, not at the top: `feedbot --help` must not load telegram and uvicorn.
    from telegram import Update
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from bot.app import build_application
    from bot.logs import configure_logging
    from bot.web.runtime import run_served, serve
    from bot.web.server import ListenError

    configure_logging(
        settings.log_level,
        token=settings.token.get_secret_value(),
        secret=settings.secret.get_secret_value() if settings.secret else None,
    )
    app = build_application(settings, surveys=catalog, inbox=webhook)
    where = settings.api_base_url or "api.telegram.org"
    try:
        if webhook or settings.listen is not None:
            run_served(serve(app, settings, webhook=webhook))
        else:
            # Updates that arrived while the bot was down are processed, not dropped:
            # someone may have pressed a button meanwhile.
            app.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
    except InvalidToken:
        # PTB's own message repeats the token; this one must not.
        raise CommandError(
            "Telegram rejected TELEGRAM_BOT_TOKEN: copy the token from @BotFather again",
            exit_code=2,
        ) from None
    except NetworkError as exc:
        raise CommandError(
            f"cannot reach the Bot API at {where} ({type(exc).__name__}): check the network "
            "or TELEGRAM_API_BASE_URL; to try feedbot without Telegram run `feedbot demo`",
            exit_code=3,
        ) from None
    except TelegramError as exc:  # e.g. Conflict: another copy of the bot is polling
        raise CommandError(f"Telegram refused to start the bot: {exc}", exit_code=3) from None
    except (sqlite3.Error, DatabaseUnavailable) as exc:
        raise database_error(settings.database, exc) from None
    except ListenError as exc:
        raise CommandError(f"{exc} (FEEDBOT_LISTEN)", exit_code=3) from None
    return 0


async def _check_opens(path: str) -> None:
    """Open (creating and migrating) and close the database, as the bot will at start-up."""
    db = await open_checked(path)
    await db.close()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `feedbot run`."""
    parser = subparsers.add_parser(
        "run",
        help="run the bot (long polling, or --webhook)",
        description="Run the bot with long polling, or with a webhook (--webhook). With "
        "FEEDBOT_LISTEN set, /healthz is served in both modes.",
    )
    add_database_option(parser)
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="receive updates on FEEDBOT_WEBHOOK_URL (needs FEEDBOT_WEBHOOK_SECRET and "
        "FEEDBOT_LISTEN); see docs/scale.md",
    )
    parser.set_defaults(handler=run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(argparse.Namespace(database=None)))
