"""The embedded backend: a real, persistent, incremental engine that runs in-process with no services.

Layout of one index under `<home>/indexes/<name>/`:
- `store.sqlite` (`store.py`): the source of truth. Passages (id, document id, title, text, metadata,
  content hash, vector slot), their analyzed tokens, the spec, a change log of ids not yet applied to BM25,
  and in `meta`: the current vector file and `generation`, a counter every committing write increments.
- `vectors-<gen>.f32` (`vectors.py`, `retrieval/vector_file.py`): float32 unit rows, appended, memory-mapped
  and searched exactly; `ann-vectors-<gen>.*`: an optional IVF/HNSW index over them (derived, rebuildable).
- `bm25/` (`bm25.py`): a tantivy index over title and text, derived from the store.
- `write.lock`: the write lock; holds the PID of the process writing.

Several processes may open one index (a server, `ragsearch search`, `ragsearch ingest`, maintenance). The
rules that keep them from corrupting each other:

1. One writer at a time. Every write (upsert batch, delete, compact, repair) holds an OS file lock
   (flock on `write.lock`), waited for up to `lock_timeout_s` (30 s by default), then `IndexLockedError`
   names the holder's PID. Under the lock and before writing, the writer catches up with what others
   committed (slot map, vector file, tantivy, a pending change log), so slots never collide.
2. The write order is: append vectors after the file's last whole row (fsync); commit passages, tokens
   and change-log rows in one SQLite transaction; apply the change log to tantivy; clear it (a second
   commit). A write that stops before its SQLite commit leaves dead rows that nothing references; one that
   stops after it leaves a change log, which the next writer (or an opener that gets the lock at once)
   applies, delete-by-id then add being idempotent.
3. Readers never modify files. Opening truncates, deletes and replays nothing without the write lock. A
   view is built from committed rows only: rows past the highest committed slot are ignored, never mapped.
4. A vector file is never truncated or rewritten in place (truncating a file another process has mapped
   kills that process with SIGBUS). `compact()` writes the live rows into `vectors-<gen+1>.f32`, switches
   the pointer in one transaction, and unlinks the old file (safe on Linux for processes that mapped it);
   leftovers of a crash are removed by a later writer.
5. Readers notice commits without a restart: every read entry point checks `PRAGMA data_version` (a few
   microseconds) and, when another connection committed and `generation` moved, rebuilds its view
   (slots, vector map, tantivy reload) under the instance lock. The BM25 view is reloaded after the
   change-log clear, i.e. after tantivy committed.
6. Lost parts are detected, never recreated empty: the store opens with `mode=rw`, a missing vector file
   is not created, an empty or missing `bm25/` is not initialised. Such an index still opens; searches
   that need the broken part raise `IndexCorruptError` naming `ragsearch indexes repair NAME`. `check()`
   compares every part with the store; `repair(embedder)` rebuilds BM25, re-embeds passages whose rows
   are missing, applies pending changes, and writes back a `store.sqlite` deleted under a process that
   still has it open. A store deleted or replaced under a running process makes its writes fail.
"""

from ragsearch.retrieval.embedded.backend import EmbeddedBackend, validate_index_name
from ragsearch.retrieval.embedded.index import EmbeddedIndex
from ragsearch.retrieval.embedded.vectors import AUTO_ANN_ROWS, VECTOR_INDEXES

__all__ = ["AUTO_ANN_ROWS", "VECTOR_INDEXES", "EmbeddedBackend", "EmbeddedIndex", "validate_index_name"]
