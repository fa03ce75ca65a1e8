"""/settings: the owner's buttons and typed changes land in the database."""

from __future__ import annotations

from bot.i18n import t
from storage import owners as owner_repo
from storage.models import OwnerSettings
from tests.delivery.support import OWNER, BotWorld, add_owner


async def stored(world: BotWorld) -> OwnerSettings:
    return await owner_repo.get_owner_settings(
        world.services.db.conn, OWNER, default_timezone="Europe/Warsaw"
    )


async def press(world: BotWorld, label: str) -> None:
    world.user(OWNER).press(label)
    await world.deliver()


async def command(world: BotWorld, text: str) -> str:
    owner = world.user(OWNER)
    owner.send_text(text)
    await world.deliver()
    return owner.last_message().text


async def test_day_hour_and_zone_from_buttons(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    text = await command(world, "/settings")
    assert "Day: Monday" in text and "Hour: 09:00" in text and "Europe/Warsaw" in text
    assert "Next digest: Monday, 30.11.2026 at 09:00 (Europe/Warsaw)" in text

    await press(world, t("en", "delivery.settings.button_day"))
    assert world.user(OWNER).last_message().text == t("en", "delivery.settings.pick_day")
    await press(world, "Fri")
    await press(world, t("en", "delivery.settings.button_hour"))
    await press(world, "07:00")
    await press(world, t("en", "delivery.settings.button_timezone"))
    await press(world, "Europe/London")

    settings = await stored(world)
    assert (settings.weekday, settings.hour, settings.timezone) == (4, 7, "Europe/London")
    menu = world.user(OWNER).last_message().text
    assert "Day: Friday" in menu and "Next digest: Friday, 27.11.2026 at 07:00" in menu


async def test_pause_resume_and_alerts_from_buttons(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    await command(world, "/settings")

    await press(world, t("en", "delivery.settings.button_pause"))
    assert (await stored(world)).paused
    assert t("en", "delivery.settings.paused_note") in world.user(OWNER).last_message().text
    await press(world, t("en", "delivery.settings.button_resume"))
    assert not (await stored(world)).paused

    await press(world, t("en", "delivery.settings.button_alerts_on"))
    assert (await stored(world)).detractor_alerts
    await press(world, t("en", "delivery.settings.button_alerts_off"))
    assert not (await stored(world)).detractor_alerts


async def test_typed_settings(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    await command(world, "/settings tz europe/lisbon")
    await command(world, "/settings hour 8")
    await command(world, "/settings day piątek")
    await command(world, "/settings alerts on")
    settings = await stored(world)
    assert (settings.timezone, settings.hour, settings.weekday) == ("Europe/Lisbon", 8, 4)
    assert settings.detractor_alerts

    reply = await command(world, "/settings tz Mars/Olympus")
    assert reply == t("en", "delivery.settings.bad_timezone", zone="Mars/Olympus")
    assert (await stored(world)).timezone == "Europe/Lisbon"
    reply = await command(world, "/settings hour 25")
    assert reply == t("en", "delivery.settings.bad_hour")
    assert (await command(world, "/settings frobnicate")).startswith("Usage:")


async def test_alerts_are_offered_for_products_only(world: BotWorld) -> None:
    await add_owner(world, OWNER, "sales")
    text = await command(world, "/settings")
    assert t("en", "delivery.settings.alerts_na") in text
    buttons = world.user(OWNER).last_message().button_texts
    assert t("en", "delivery.settings.button_alerts_on") not in buttons
    reply = await command(world, "/settings alerts on")
    assert reply == t("en", "delivery.settings.alerts_products_only")
    assert not (await stored(world)).detractor_alerts


async def test_settings_are_for_owners(world: BotWorld) -> None:
    stranger = world.user(556)
    stranger.send_command("/settings")
    await world.deliver()
    assert stranger.last_message().text == t("en", "owner.not_owner")
