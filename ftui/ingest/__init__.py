"""Getting interactions in: file import (openai, sharegpt, alpaca, ftui) and live logging."""

from ftui.ingest.formats import FORMATS, InteractionRecord, RecordError, to_export_record
from ftui.ingest.importer import (
    ImportReport,
    import_files,
    insert_records,
    interaction_row,
    log_interaction,
)

__all__ = [
    "FORMATS",
    "ImportReport",
    "InteractionRecord",
    "RecordError",
    "import_files",
    "insert_records",
    "interaction_row",
    "log_interaction",
    "to_export_record",
]
