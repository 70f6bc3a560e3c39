"""ragsearch: retrieval-augmented search, one package whose stages are the repository's top-level folders.

`ragsearch.retrieval` < `ragsearch.ingest` | `ragsearch.eval` < `ragsearch.rerank` < `ragsearch.search` <
`ragsearch.answer` < `ragsearch.app`: in a checkout each is a link to its folder (`retrieval/`, ...), so the
layout still shows the pipeline while the installed names (`ragsearch.app`, never a bare `app`) cannot
collide with another project's packages.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ragsearch")
except PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"
