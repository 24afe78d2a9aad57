"""``crosstrain reproduce``: docs/REPRODUCTION.md's tables are exactly what the code computes now."""

import json
import re
from pathlib import Path

import pytest

from crosstrain import reproduction
from crosstrain.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "REPRODUCTION.md"


@pytest.fixture(scope="module")
def computed():
    return {t["key"]: t for t in reproduction.tables()}


def test_the_document_shows_what_the_code_computes(computed):
    shown = reproduction.blocks(DOC.read_text())
    assert sorted(shown) == sorted(reproduction.KEYS)
    for key, t in computed.items():
        assert shown[key] == reproduction.markdown(t), \
            f"docs/REPRODUCTION.md table {key!r} is stale: run crosstrain reproduce --update docs/REPRODUCTION.md"


def test_prose_states_no_ratio_of_its_own():
    # outside the generated tables, a ratio in the prose is one of the papers' claims (or PUMA's
    # 8.97x digital unit), so no figure of ours can go stale there
    text = reproduction.BLOCK.sub("", DOC.read_text())
    claims = {"8.97"}
    for para in text.split("\n\n"):
        if para.startswith("**Claim**"):
            claims |= set(re.findall(r"(\d[\d.,]*)×", para))
    own = re.findall(r"(?<![\d×])(\d[\d.,]*)×(?!\d)", text)
    assert set(own) <= claims, set(own) - claims


def test_panther_mlp_rows_cover_both_presets_and_batches(computed):
    for key in ("panther-baselines", "panther-baselines-sim"):
        rows = computed[key]["rows"]
        assert len(rows) == 3 * 2
        for r in rows:
            assert "panther,digital,cmos-op,pipelayer-panther" in r["command"]
            # every baseline takes more time and energy than PANTHER (the abstract's direction)
            assert all(v > 1 for v in r["values"]), r


def test_json_and_markdown_and_update(capsys, tmp_path):
    assert main(["reproduce", "--table", "units", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["schema"] == reproduction.SCHEMA and [t["key"] for t in d["tables"]] == ["units"]
    json.dumps(d, allow_nan=False)
    f = tmp_path / "doc.md"
    f.write_text("text\n<!-- reproduce: units -->\nold\n<!-- /reproduce -->\nmore\n")
    assert main(["reproduce", "--table", "units", "--update", str(f)]) == 0
    capsys.readouterr()
    assert main(["reproduce", "--table", "units", "--markdown"]) == 0
    block = capsys.readouterr().out.strip()
    assert f.read_text() == f"text\n{block}\nmore\n"


def test_bad_table_is_one_line(capsys):
    assert main(["reproduce", "--table", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--table 'nosuch'" in err and "\n" not in err
