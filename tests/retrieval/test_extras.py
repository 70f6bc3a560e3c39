"""Optional parts of the install (retrieval/extras.py): without an extra's package, the feature fails with an
error that names the pip command, and `auto` vector search stays exact instead of failing.

Each case runs in a fresh interpreter where the extra's modules are absent: `sys.modules[name] = None`
makes every `import name` raise ImportError, as on an install without the extra (the packages stay
installed for the other tests; the wheel itself is tested in tests/test_packaging.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def without(modules: list[str], code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)},
    )


def test_ann_without_the_extra(tmp_path: Path) -> None:
    code = f"""
    import pytest
    from ragsearch.retrieval.embedded import EmbeddedBackend, vectors
    from ragsearch.retrieval.extras import MissingExtraError
    from tests.retrieval.contract import DOCS, EMB, SPEC, embed

    q = EMB.embed_queries(["Quokkas live on Rottnest Island."])[0]
    for kind in ("ivf", "hnsw"):
        with EmbeddedBackend({str(tmp_path)!r} + "/" + kind, vector_index=kind).create("kb", SPEC) as idx:
            idx.upsert(embed(DOCS))
            with pytest.raises(MissingExtraError, match=r"pip install 'ragsearch\\[ann\\]'"):
                idx.vector_search(q, 3)
    vectors.AUTO_ANN_ROWS = 2  # `auto` would build IVF from 2 rows on
    with EmbeddedBackend({str(tmp_path)!r} + "/auto", vector_index="auto").create("kb", SPEC) as idx:
        idx.upsert(embed(DOCS))
        exact = [h.id for h in idx.vector_search(q, 3)]
        assert [h.id for h in idx.vector_search(q, 3)] == exact
    assert len(exact) == 3, exact
    print("ok", exact)
    """
    r = without(["faiss", "usearch", "usearch.index"], code, tmp_path)
    assert r.returncode == 0 and r.stdout.splitlines()[-1].startswith("ok"), r.stderr[-3000:]
    said = (r.stdout + r.stderr).count("vectors.exact_without_ann_extra")
    assert said == 1, r.stdout + r.stderr  # once, with the fix


def test_elasticsearch_backend_and_ui_without_their_extras(tmp_path: Path) -> None:
    code = """
    import pytest
    from ragsearch.app.services import make_backend
    from ragsearch.app.settings import load_settings
    from ragsearch.retrieval.extras import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"pip install 'ragsearch\\[elasticsearch\\]'"):
        make_backend(load_settings(backend="elasticsearch"))
    print("ok")
    """
    r = without(["elasticsearch"], code, tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-3000:]
    ui = without(
        ["streamlit"], "from ragsearch.app.cli import main; sys.argv = ['ragsearch', 'ui']; main()", tmp_path
    )
    assert ui.returncode == 1, ui.stderr
    assert "error: the search UI needs the 'ui' extra: pip install 'ragsearch[ui]'" in ui.stderr
