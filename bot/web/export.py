"""The dashboard's CSV download: the same export, under the same rules, as /export in chat."""

from __future__ import annotations

from starlette.responses import Response

from bot.services import Services
from storage import export as export_repo
from storage.disclosures import plan_export
from storage.models import Subject, SubjectKind
from surveys.schema import QuestionType


async def export_response(services: Services, subject: Subject, lang: str) -> Response | None:
    """The CSV of a subject as /export sends it: a product's every response, a department's
    only the disclosure units its digests may show (None: nothing may be exported yet)."""
    definition = services.surveys.latest(subject.survey_id)
    question_ids = [q.id for q in definition.questions]
    if subject.kind is SubjectKind.DEPARTMENT:
        plan = await plan_export(
            services.db,
            subject.id,
            today=services.today(),
            now=services.now(),
            anonymity_min=services.settings.anonymity_min,
            comments_min=services.settings.comments_threshold,
        )
        if not plan.units:
            return None
        data = await export_repo.export_units_csv_bytes(
            services.db.conn, subject, question_ids, plan.units
        )
    else:
        multi = {q.id for q in definition.questions if q.type is QuestionType.MULTI}
        data = await export_repo.export_csv_bytes(
            services.db.conn, subject, question_ids, start=None, end=None, multi_question_ids=multi
        )
    filename = f"feedbot-{subject.slug}-{services.today().isoformat()}.csv"
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
