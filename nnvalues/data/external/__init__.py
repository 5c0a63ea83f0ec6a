"""External evaluation sets: PVQ40 and ValueBench items mapped to the four Schwartz dimensions.

The paper checks its edits on two published sets besides its own held-out questions
(appendix C): the 40 portraits of the Portrait Values Questionnaire and the items of
ValueBench's inventories (36 in its orientation file). Both come from the ValueBench
repository, which nnvalues downloads at a pinned commit, verifies by sha256 and caches
rather than ships:

    ValueBench (https://github.com/Value4AI/ValueBench), Copyright (c) 2024 Value4AI,
    MIT License. Files data/value_orientation.csv and data/value_data.xlsx at commit
    188773443c1f2f24ff3223e46216bd74ed91ae51; the cache keeps the licence beside them.

`source` fetches and verifies the files, `schwartz` maps inventory constructs to the
dimensions, `items` turns rows into `EvalItem`s and evaluation questions.
"""

from nnvalues.data.external.items import (
    SETS,
    EvalItem,
    EvalQuestion,
    check_set,
    counts_by_dimension,
    evaluation_questions,
    load_pvq40,
    load_set,
    load_valuebench,
)
from nnvalues.data.external.source import (
    URL_ENV,
    ChecksumError,
    DownloadError,
    ExternalDataError,
    ValueBenchFiles,
    valuebench_files,
)

__all__ = [
    "SETS",
    "URL_ENV",
    "ChecksumError",
    "DownloadError",
    "EvalItem",
    "EvalQuestion",
    "check_set",
    "ExternalDataError",
    "ValueBenchFiles",
    "counts_by_dimension",
    "evaluation_questions",
    "load_pvq40",
    "load_set",
    "load_valuebench",
    "valuebench_files",
]
