"""Curation: from rated interactions to frozen, cleaned, split training datasets."""

from ftui.curate.build import BuildResult
from ftui.curate.spec import DatasetSpec
from ftui.curate.versions import (
    build_dataset,
    diff_datasets,
    examples_of,
    get_dataset,
    list_datasets,
    preview,
)

__all__ = ["BuildResult", "DatasetSpec", "build_dataset", "diff_datasets", "examples_of",
           "get_dataset", "list_datasets", "preview"]
