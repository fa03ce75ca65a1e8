"""Hostile content for the fuzz suite: texts, callback data mutations, /start payloads."""

from __future__ import annotations

import random
import string

from bot.callbacks import Action

# Each is a whole class of trouble for a chat bot; the fuzzer also mixes and repeats them.
HOSTILE_PIECES = [
    "",
    " ",
    "\n\n",
    "5",
    "10",
    "11",
    "-1",
    "0",
    "3.5",
    "1,3",
    "1, 2, 99",
    "tak",
    "no.",
    "yes",
    "/start",
    "/cancel",
    "<b>bold",
    "</i>",
    "a & b < c > d",
    "&amp;&lt;",
    "\"quoted\" 'single'",
    "\u202eRTL override\u202c",
    "שלום עולם",
    "مرحبا بالعالم",
    "👍🏽👨‍👩‍👧‍👦🇵🇱",
    "\u200b\u200c\u200d\u2060\ufeff",
    "\x00\x01\x02\x07\x08\x1b[31mred\x1b[0m\x7f",
    "\t\r\x0b\x0c",
    "\ud800",
    "\udfff lone",
    "\U0010ffff",
    "Zażółć gęślą jaźń",
    "'; DROP TABLE answers; --",
    '=HYPERLINK("http://x")',
    "{{ subject }}",
    "{subject}",
    "%s %d %(x)s",
]
LONG_UNITS = ["x", "ż", "👍", "\u200b", "\u05d0", "ab ", "\n"]


def hostile_text(rng: random.Random) -> str:
    """A text a user might type, or a hostile one: huge, RTL, emoji, zero-width, control
    characters, lone surrogates, markup, formulas, in any mix."""
    roll = rng.random()
    if roll < 0.08:
        return rng.choice(LONG_UNITS) * rng.choice([1001, 4096, 4097, 10_000])
    if roll < 0.3:
        alphabet = string.printable + "żółćęśąźń€—…👍\u200b\u202e\ud800\x00"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
    pieces = [rng.choice(HOSTILE_PIECES) for _ in range(rng.randint(1, 4))]
    return "".join(pieces)


def start_payload(rng: random.Random) -> str:
    """A /start payload no invite produced: too long, bad characters, near-misses."""
    kind = rng.randrange(6)
    if kind == 0:
        return "".join(rng.choice(string.ascii_letters + "-_") for _ in range(43))  # unknown
    if kind == 1:
        return "A" * rng.choice([44, 64, 65, 200])
    if kind == 2:
        return "".join(rng.choice(string.punctuation) for _ in range(rng.randint(1, 70)))
    if kind == 3:
        return rng.choice(HOSTILE_PIECES).replace(" ", "_") or "x"
    if kind == 4:
        return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 42)))
    return hostile_text(rng).replace(" ", "_").replace("\n", "_") or "_"


BIG_IDS = ["0", "-1", "00", "9" * 19, "9" * 40, str(2**63), str(2**63 - 1), str(2**64), "1e9"]
ACTION_CODES = [a.value for a in Action] + ["zz", "", "A"]


def mutate_callback(rng: random.Random, base: str | None, other_ids: list[int]) -> str:
    """Callback data derived from a real button's data (or from nothing): another user's
    session id, ids far out of range, swapped actions and arguments, truncation, junk."""
    if base is None or rng.random() < 0.15:
        return _random_callback(rng, other_ids)
    parts = base.split(":")
    kind = rng.randrange(12)
    if kind >= 10 and len(parts) > 3:
        return retarget(rng, base)
    if kind == 0 and len(parts) > 2 and other_ids:
        parts[2] = str(rng.choice(other_ids))  # someone else's session or subject
    elif kind == 1 and len(parts) > 2:
        parts[2] = rng.choice(BIG_IDS)
    elif kind == 2 and len(parts) > 1:
        parts[1] = rng.choice(ACTION_CODES)
    elif kind == 3:
        parts[-1] = rng.choice(["11", "-1", "99", "yes", "maybe", "price", "gold", "\ud800"])
    elif kind == 4 and len(parts) > 3:
        parts[3] = rng.choice(["nps", "comment", "improve", "overall", "nope", "works_well"])
    elif kind == 5:
        return base[: rng.randrange(len(base) + 1)]
    elif kind == 6:
        parts.append(rng.choice(["x", "1", ""]))
    elif kind == 7:
        return base + rng.choice(["\ud800", "\u200b", "ż", " ", "\x00"])
    elif kind == 8:
        return base  # a replay of the real button: legit if current, else stale
    else:
        return "f1:" + rng.choice(ACTION_CODES) + ":" + ":".join(parts[2:])
    return ":".join(parts)


def retarget(rng: random.Random, base: str) -> str:
    """Any survey action on a button's own session and question, well-formed: only what
    that question's keyboard offers may pass (no answer button on a free-text question,
    no Skip on a required one, values within the scale or choices)."""
    parts = base.split(":")
    if len(parts) < 4:
        return base
    code = rng.choice(["a", "a", "t", "d", "s", "b"])
    value = rng.choice(["0", "1", "5", "7", "10", "11", "yes", "no", "price", "x", "words"])
    return ":".join(["f1", code, parts[2], parts[3], *([value] if code in "at" else [])])


def _random_callback(rng: random.Random, other_ids: list[int]) -> str:
    code = rng.choice(ACTION_CODES)
    ids = [str(i) for i in other_ids] + BIG_IDS + ["1", "2"]
    args = {
        "l": [rng.choice(["pl", "en", "de", "PL", "xx"])],
        "st": [
            rng.choice(["day", "hour", "tz", "pause", "alerts", "show", "x"]),
            rng.choice(
                ["0", "1", "6", "7", "23", "24", "main", "Europe/Warsaw", "Mars/Base", "../x"]
            ),
        ],
        "mp": [rng.choice(["0", "1", "2", "on"])],
        "si": [rng.choice(["x" * 43, "short", "A" * 48, "a.b/c"])],
        "m": [],
    }.get(
        code,
        [
            rng.choice(ids),
            rng.choice(["nps", "csat", "improve", "comment", "q"]),
            rng.choice(["0", "5", "10", "price", "yes"]),
        ][: rng.randint(0, 3)],
    )
    data = ":".join(["f1", code, *args])
    if rng.random() < 0.2:
        data = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 70)))
    return data
