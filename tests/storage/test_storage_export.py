"""CSV export: Polish letters survive Excel's encoding, one row per response, no identity."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from storage.db import Database
from storage.export import export_csv, export_csv_bytes
from storage.models import Session, Subject
from storage.sessions import abandon_session, complete_session
from surveys.periods import week_key
from surveys.schema import AnswerRecord, QuestionType

StartSession = Callable[..., Awaitable[Session]]
POLISH = "Zażółć gęślą jaźń: ąęłńóśźż ĄĘŁŃÓŚŹŻ"
QUESTIONS = ["reliability", "channels", "comment"]


def records(value: int, text: str, *choices: str) -> list[AnswerRecord]:
    return [
        AnswerRecord(question_id="reliability", question_type=QuestionType.RATING, number=value),
        AnswerRecord(question_id="channels", question_type=QuestionType.MULTI, choices=choices),
        AnswerRecord(question_id="comment", question_type=QuestionType.TEXT, text=text),
        AnswerRecord(question_id="unlisted", question_type=QuestionType.RATING, number=1),
    ]


async def _complete(
    db: Database,
    session: Session,
    answers: list[AnswerRecord],
    at: datetime,
    contact_id: int | None = None,
) -> None:
    key = week_key(at.date())
    async with db.transaction() as conn:
        await complete_session(
            conn,
            session,
            records=answers,
            marker=f"p{session.respondent_id}:{session.subject_id}:{key}",
            next_possible=at.date(),
            contact_id=contact_id,
            now=at,
            week_key=key,
        )


async def test_an_internal_export_round_trips_polish_letters_without_identities(
    db: Database, department: Subject, start: StartSession, now: datetime, tmp_path: Path
) -> None:
    telegram_id = 987654321
    first = await start(telegram_id, department, role="contractor", now=now)
    await _complete(db, first, records(4, POLISH, "email", "chat"), now)
    second = await start(123456789, department, now=now + timedelta(hours=1))
    await _complete(
        db, second, records(2, '=HYPERLINK("http://x")', "phone"), now + timedelta(hours=1)
    )
    partial = await start(555000555, department, role="supplier", now=now)
    async with db.transaction() as conn:
        await abandon_session(
            conn,
            partial,
            records=records(
                3,
                "",
            )[:1],
            now=now + timedelta(hours=2),
            week_key="2026-W48",
        )

    path = tmp_path / "sales.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        written = await export_csv(
            db.conn,
            department,
            QUESTIONS,
            out,
            start=None,
            end=None,
            multi_question_ids={"channels"},
        )
    assert written == 3
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as source:
        rows = list(csv.reader(source))
    columns = ["response_no", "submitted_at", "survey_version", "status", "role", *QUESTIONS]
    assert rows[0] == columns
    # Numbered 1, 2, 3, in an order that is not that of submission (random ids), and all
    # stamped with the start of their week instead of their time.
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    week = "2026-11-23T00:00:00+00:00"
    assert sorted(row[1:] for row in rows[1:]) == sorted(
        [
            [week, "1", "completed", "contractor", "4", "email;chat", POLISH],
            [week, "1", "completed", "employee", "2", "phone", '\'=HYPERLINK("http://x")'],
            [week, "1", "partial", "supplier", "3", "", ""],
        ]
    )
    text = path.read_text(encoding="utf-8-sig")
    for identity in ("987654321", "123456789", "555000555", "p987654321"):
        assert identity not in text


async def test_an_external_export_shows_consented_contacts_and_filters_dates(
    db: Database, product: Subject, start: StartSession, now: datetime
) -> None:
    days = [now - timedelta(days=2), now, now + timedelta(days=1)]
    for buyer, at in enumerate(days, start=1):
        session = await start(buyer, product, now=at)
        await _complete(
            db, session, records(5, f"buyer {buyer}"), at, contact_id=buyer if buyer == 2 else None
        )

    data = await export_csv_bytes(
        db.conn, product, QUESTIONS, start=date(2026, 11, 24), end=date(2026, 11, 25)
    )
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == [
        "response_no",
        "submitted_at",
        "survey_version",
        "status",
        *QUESTIONS,
        "contact_telegram_id",
    ]
    assert rows[1:] == [
        ["1", "2026-11-25T10:30:00+00:00", "1", "completed", "5", "", "buyer 2", "2"]
    ]

    everything = await export_csv_bytes(db.conn, product, QUESTIONS, start=None, end=None)
    numbers = [row[0] for row in csv.reader(io.StringIO(everything.decode("utf-8-sig")))]
    assert numbers == ["response_no", "1", "2", "3"]


async def test_an_export_without_responses_is_just_the_header(
    db: Database, department: Subject
) -> None:
    out = io.StringIO(newline="")
    assert await export_csv(db.conn, department, ["q"], out, start=None, end=None) == 0
    assert out.getvalue() == "response_no,submitted_at,survey_version,status,role,q\r\n"
