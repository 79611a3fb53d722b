"""Label lists for "what it hears": the shipped ESC-50 and VGGSound lists, or a person's own file."""

from __future__ import annotations

import pytest

from sgim_desktop.engine.labels import load_labels
from sgim_desktop.errors import BadInputError


def test_the_shipped_lists_load_by_name():
    esc50, vggsound = load_labels("esc50"), load_labels("vggsound")
    assert len(esc50) == 50 and "rain" in esc50
    assert len(vggsound) == len(set(vggsound)) > 300
    assert all(label == label.strip() and label for label in esc50 + vggsound)


def test_an_own_list_skips_comments_blanks_and_repeats_in_order(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# my sounds\nrain\n\n  thunder  \nrain\ngiggling\n", encoding="utf-8")
    assert load_labels(str(path)) == ["rain", "thunder", "giggling"]


@pytest.mark.parametrize("content, message", [
    (b"# only a comment\n\n", "is empty"),
    (b"\xff\xfe\x00bad", "cannot read the label list"),
])
def test_a_list_that_cannot_be_used_is_one_line(tmp_path, content, message):
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=message) as info:
        load_labels(str(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(BadInputError, match="cannot read the label list"):
        load_labels(str(tmp_path / "missing.txt"))
