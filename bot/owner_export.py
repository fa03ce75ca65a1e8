"""An owner's CSV of one subject, the same from /export in chat and from the dashboard: a
product's every response; a department's only the disclosure units its digests may show."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services import Services
from storage import export as export_repo
from storage.disclosures import plan_export
from storage.models import Subject, SubjectKind
from surveys.anonymity import ExportPlan
from surveys.schema import QuestionType


@dataclass(frozen=True)
class OwnerExport:
    """The file, or (`data` None) a department with nothing that may be exported yet, with
    the plan saying what is still missing."""

    filename: str
    data: bytes | None
    plan: ExportPlan | None


async def owner_export(services: Services, subject: Subject) -> OwnerExport:
    """Build the owner's export of `subject` under the anonymity rules in force."""
    definition = services.surveys.latest(subject.survey_id)
    question_ids = [q.id for q in definition.questions]
    filename = f"feedbot-{subject.slug}-{services.today().isoformat()}.csv"
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
            return OwnerExport(filename, None, plan)
        data = await export_repo.export_units_csv_bytes(
            services.db.conn, subject, question_ids, plan.units
        )
        return OwnerExport(filename, data, plan)
    multi = {q.id for q in definition.questions if q.type is QuestionType.MULTI}
    data = await export_repo.export_csv_bytes(
        services.db.conn, subject, question_ids, start=None, end=None, multi_question_ids=multi
    )
    return OwnerExport(filename, data, None)
