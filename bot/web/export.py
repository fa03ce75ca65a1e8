"""The dashboard's CSV download: the same export, under the same rules, as /export in chat."""

from __future__ import annotations

from starlette.responses import Response

from bot.owner_export import owner_export
from bot.services import Services
from storage.models import Subject


async def export_response(services: Services, subject: Subject, lang: str) -> Response | None:
    """The CSV of a subject as /export sends it (bot.owner_export); None when a department
    has nothing that may be exported yet."""
    export = await owner_export(services, subject)
    if export.data is None:
        return None
    return Response(
        export.data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
