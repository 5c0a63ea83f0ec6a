"""Grow the ValueInsight-style data set with any OpenAI-compatible chat endpoint.

    from nnvalues.data.generate import Endpoint, GenerateOptions, generate
    report = generate(GenerateOptions(out=Path("more-data"), dimensions=("conservation",)),
                      Endpoint(model="gpt-4o"))

The pipeline and its prompts are the paper's (appendix A); see `pipeline` for the steps,
`workspace` for the files a run keeps, and `parsing` for the answer shapes it accepts.
"""

from nnvalues.data.generate.client import DEFAULT_MODEL, Endpoint, EndpointError
from nnvalues.data.generate.parsing import ParseFailure, parse_list, parse_revision, parse_views
from nnvalues.data.generate.options import GenerateOptions, RefineOptions
from nnvalues.data.generate.pipeline import generate, refine
from nnvalues.data.generate.report import Report, StageReport

__all__ = [
    "DEFAULT_MODEL", "Endpoint", "EndpointError", "GenerateOptions", "ParseFailure", "RefineOptions",
    "Report", "StageReport", "generate", "parse_list", "parse_revision", "parse_views", "refine",
]
