"""The redacting log handler: each way a secret or a payload reaches a record is covered."""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from telegram import Update
from telegram.error import InvalidToken

from bot.cli import main
from bot.logs import NOISY_LOGGERS, configure_logging
from tests.fakes.http_server import BotApiServer
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "7654321:AAH-secret-half-of-the-token_xyz"
SECRET = "server secret with 'quotes' & spaces / slashes"
TELEGRAM_ID = 987654321
ANSWER = "my honest answer about Sales"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The handler configure_logging installs, at DEBUG, writing to a buffer."""
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY_LOGGERS)}
    buffer = io.StringIO()
    handler = configure_logging("DEBUG", token=TOKEN, secret=SECRET, stream=buffer)
    try:
        yield buffer
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def forms_of_secrets() -> list[str]:
    key = TOKEN.split(":", 1)[1]
    return [TOKEN, key, quote(TOKEN, safe=""), SECRET, quote(SECRET, safe=""), repr(SECRET)[1:-1]]


def assert_clean(text: str) -> None:
    for form in forms_of_secrets():
        assert form not in text, (form, text)


def test_the_token_is_redacted_in_every_form_it_is_logged_in(captured: io.StringIO) -> None:
    log = logging.getLogger("httpx")
    log.debug("Set Bot API URL: %s", f"https://api.telegram.org/bot{TOKEN}")
    log.info('HTTP Request: POST %s "HTTP/1.1 200 OK"', f"http://h/bot{TOKEN}/getUpdates")
    log.debug("encoded: %s and %s", quote(TOKEN, safe=""), quote(TOKEN, safe="").lower())
    log.warning(f"in the message itself: {TOKEN} and the secret {SECRET}")
    log.debug("only the secret half: %s", TOKEN.split(":")[1])
    log.debug("%(url)s", {"url": f"https://x/bot{TOKEN}/getMe"})
    text = captured.getvalue()
    assert_clean(text)
    assert "https://api.telegram.org/bot[token]" in text
    assert "http://h/bot[token]/getUpdates" in text
    assert "the secret [secret]" in text
    assert text.count("\n") == 6


def test_exception_text_and_stacks_are_redacted_and_stay_in_the_record(
    captured: io.StringIO,
) -> None:
    log = logging.getLogger("telegram.ext.Application")
    try:
        try:
            raise OSError(f"connect to https://api.telegram.org/bot{TOKEN}/getMe failed")
        except OSError as exc:
            raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.") from exc
    except InvalidToken:
        log.exception("bootstrap failed")
    log.debug("here, with the secret %s", SECRET, stack_info=True)
    text = captured.getvalue()
    assert_clean(text)
    assert "Traceback" in text and "InvalidToken: The token `[token]` was rejected" in text
    assert "OSError: connect to https://api.telegram.org/bot[token]/getMe failed" in text
    assert "Stack (most recent call last)" in text


def test_updates_payloads_and_sql_parameters_are_summarized(captured: io.StringIO) -> None:
    update = Update.de_json(
        {
            "update_id": 42,
            "message": {
                "message_id": 7,
                "date": 0,
                "chat": {"id": TELEGRAM_ID, "type": "private", "first_name": "Zbigniew"},
                "from": {"id": TELEGRAM_ID, "is_bot": False, "first_name": "Zbigniew"},
                "text": ANSWER,
            },
        },
        None,
    )
    logging.getLogger("telegram.ext.Application").debug("Processing update %s", update)
    logging.getLogger("telegram.ext.ExtBot").debug(
        "Calling Bot API endpoint `%s` with parameters `%s`",
        "sendMessage",
        {"chat_id": TELEGRAM_ID, "text": ANSWER},
    )
    logging.getLogger("telegram.Bot").critical(
        "Error while parsing updates! Received data was %r", [{"message": {"text": ANSWER}}]
    )
    logging.getLogger("telegram.request.BaseRequest").error(
        'Can not load invalid JSON data: "%s"', f'{{"chat": {TELEGRAM_ID}, "text": "{ANSWER}'
    )
    call = functools.partial(print, "INSERT INTO answers VALUES (?, ?)", (TELEGRAM_ID, ANSWER))
    logging.getLogger("aiosqlite").debug("executing %s", call)
    logging.getLogger("bot").info("numbers, names and errors pass: %d %s", 3, "sendMessage")
    text = captured.getvalue()
    assert str(TELEGRAM_ID) not in text and ANSWER not in text and "Zbigniew" not in text
    assert "Processing update Update(update_id=42, message)" in text
    assert "with parameters `{chat_id, text}`" in text
    assert "Received data was '<list of 1>'" in text
    assert "executing <print>" in text
    assert "numbers, names and errors pass: 3 sendMessage" in text


def test_arguments_that_do_not_fit_the_message_are_not_printed_raw(
    captured: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # logging reports a formatting error with the raw arguments on stderr.
    logging.getLogger("bot").info("answer %d", ANSWER)
    logging.getLogger("bot").info("two %s %s", SECRET)
    text = captured.getvalue() + capsys.readouterr().err
    assert ANSWER not in text
    assert_clean(text)
    assert text.count("(arguments did not fit the message)") == 2


def test_network_retry_messages_are_one_line_and_a_start_up_abort_is_left_to_the_cli(
    captured: io.StringIO,
) -> None:
    log = logging.getLogger("telegram.ext._utils.networkloop")
    try:
        raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
    except InvalidToken:
        log.exception("%s Invalid token. Aborting retry loop.", "Network Retry Loop (Polling):")
        log.exception(
            "%s Invalid token. Aborting retry loop.", "Network Retry Loop (Bootstrap Initialize):"
        )
    text = captured.getvalue()
    assert text.count("\n") == 1 and "Traceback" not in text
    assert "Network Retry Loop (Polling): Invalid token" in text


def test_configuring_twice_keeps_one_handler_and_debug_unpins_the_noisy_loggers(
    captured: io.StringIO,
) -> None:
    assert logging.getLogger("httpx").level == logging.DEBUG
    again = io.StringIO()
    handler = configure_logging("INFO", token=TOKEN, secret=SECRET, stream=again)
    assert sum(1 for h in logging.getLogger().handlers if getattr(h, "feedbot", False)) == 1
    # Below DEBUG, the libraries that log every request are kept to warnings.
    assert logging.getLogger("httpx").level == logging.WARNING
    logging.getLogger("bot").info("once")
    assert captured.getvalue() == "" and again.getvalue().endswith("INFO bot: once\n")
    logging.getLogger().removeHandler(handler)


def test_digest_send_logs_through_the_same_handler_and_leaves_logging_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeTelegram(token=TOKEN)
    handlers = list(logging.getLogger().handlers)
    with BotApiServer(fake) as server:
        monkeypatch.chdir(tmp_path)
        for name in [n for n in os.environ if n.startswith(("FEEDBOT_", "TELEGRAM_"))]:
            monkeypatch.delenv(name)
        for name, value in {
            **server.env,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "FEEDBOT_SECRET": "digest-send-secret-0123456789",
            "FEEDBOT_LOG_LEVEL": "DEBUG",
        }.items():
            monkeypatch.setenv(name, value)
        assert main(["product", "add", "tea", "--name", "Herbata"]) == 0
        assert main(["digest", "send"]) == 0
    err = capsys.readouterr().err
    assert "INFO httpx: HTTP Request: POST http://127.0.0.1:" in err and "DEBUG httpcore" in err
    assert "/bot[token]/getMe" in err
    assert_clean(err)
    assert "digest-send-secret-0123456789" not in err
    assert logging.getLogger().handlers == handlers
