"""Collections (folders, path lists), label/tag side files, records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from PIL import Image

from dhr_sdk.core.errors import DhrError
from dhr_sdk.data.collection import Collection
from dhr_sdk.data.sidefiles import read_side_file, write_side_file
from dhr_sdk.store import Store


def _img(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "coll"
    for name in ("b.png", "a.PNG", "sub/c.png", "sub/deep/d.png", "e.png"):
        _img(root / name)
    (root / "README.txt").write_text("notes")
    (root / ".hidden.png").write_bytes(b"")
    _img(root / ".cache" / "x.png")
    return root


def test_from_folder_lists_recursively_sorted(folder: Path) -> None:
    col = Collection.from_folder(folder)
    assert col.image_ids == ["a.PNG", "b.png", "e.png", "sub/c.png", "sub/deep/d.png"]
    assert col.skipped == ["README.txt"] and "extension" in col.skipped_reasons[0]
    assert col.paths[3] == folder.resolve() / "sub" / "c.png"
    assert col.labels is None and len(col) == 5


def test_empty_and_missing_folders_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DhrError, match="holds no image files"):
        Collection.from_folder(tmp_path / "empty")
    with pytest.raises(DhrError, match="does not exist"):
        Collection.from_folder(tmp_path / "nope")
    with pytest.raises(DhrError, match="empty"):
        Collection.from_paths([])


def test_from_paths_root_and_missing(folder: Path) -> None:
    col = Collection.from_paths([folder / "sub/c.png", folder / "sub/deep/d.png",
                                 folder / "sub/gone.png", folder / "sub/c.png"])
    assert col.root == (folder / "sub").resolve()
    assert col.image_ids == ["c.png", "deep/d.png"] and col.skipped == ["gone.png"]
    col2 = Collection.from_paths([folder / "sub/c.png"], root=folder)
    assert col2.image_ids == ["sub/c.png"]
    with pytest.raises(DhrError, match="not inside"):
        Collection.from_paths([folder / "a.PNG"], root=folder / "sub")


@pytest.mark.parametrize("ending", [".csv", ".jsonl"])
def test_side_file_round_trip_multilabel(tmp_path: Path, ending: str) -> None:
    ids = ["a.png", "b.png", "sub/c.png", "d.png"]
    m = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1]], dtype=np.uint8))
    names = ["car", "dog", "person"]
    path = tmp_path / f"labels{ending}"
    write_side_file(path, ids, m, names)
    table = read_side_file(path, ids, "labels")
    assert table.names == names and (table.matrix != m).nnz == 0
    assert table.n_unlisted == 0


def test_csv_rows_merge_and_unlisted_images(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_text('image,labels\n./a.png,cat\na.png,"dog; cat"\nsub\\c.png,\n')
    t = read_side_file(p, ["a.png", "b.png", "sub/c.png"], "labels")
    assert t.names == ["cat", "dog"]
    assert t.matrix.toarray().tolist() == [[1, 1], [0, 0], [0, 0]]
    assert t.n_unlisted == 1  # b.png has no row; sub/c.png has a row with no label


def test_jsonl_single_string_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps({"image": "a.png", "tags": "grass"}) + "\n\n"
                 + json.dumps({"image": "b.png", "tags": ["sky", "grass"]}) + "\n")
    t = read_side_file(p, ["a.png", "b.png"], "tags")
    assert t.names == ["grass", "sky"] and t.matrix.toarray().tolist() == [[1, 0], [1, 1]]
    p.write_text('{"image": "a.png", "tags": ["x"]}\nnot json\n')
    with pytest.raises(DhrError, match="line 2"):
        read_side_file(p, ["a.png"], "tags")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\na.png,x\n")
    with pytest.raises(DhrError, match="header must name"):
        read_side_file(bad, ["a.png"], "labels")
    unknown = tmp_path / "u.csv"
    unknown.write_text("image,labels\nzzz.png,x\n")
    with pytest.raises(DhrError, match="not in the collection"):
        read_side_file(unknown, ["a.png"], "labels")
    with pytest.raises(DhrError, match=r"\.csv or \.jsonl"):
        read_side_file(_touch(tmp_path / "l.txt"), ["a.png"], "labels")


def _touch(p: Path) -> Path:
    p.write_text("x")
    return p


def test_collection_with_labels_tags_and_record(folder: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("image,labels\na.PNG,cat;dog\nsub/c.png,dog\n")
    tags = tmp_path / "tags.jsonl"
    tags.write_text('{"image": "b.png", "tags": ["grass"]}\n')
    col = Collection.from_folder(folder, labels_file=labels, tags_file=tags)
    assert col.label_names == ["cat", "dog"] and col.tag_names == ["grass"]
    assert col.labels is not None and col.labels.toarray()[[0, 3]].tolist() == [[1, 1], [0, 1]]
    rest = col.without({"a.PNG": "broken"})
    assert rest.image_ids[0] == "b.png" and rest.skipped[-1] == "a.PNG"
    assert rest.labels is not None and rest.labels.shape == (4, 2)
    assert rest.signature() == col.signature()  # independent of what was skipped
    rec = rest.to_record()
    store = Store.create(tmp_path / "s.h5")
    with store.edit() as w:
        w.write_collection(rec)
    back = store.read_collection()
    assert back.image_ids == rest.image_ids and back.signature == rec.signature
    assert (back.labels != rest.labels).nnz == 0 and back.skipped_reasons[-1] == "broken"
    again = Collection.from_record(back)
    assert again.signature() == col.signature()
    assert list(rest.index_of(["sub/c.png", "b.png"])) == [2, 0]
    with pytest.raises(DhrError, match="no readable image"):
        col.without({i: "x" for i in col.image_ids})


def test_signature_changes_with_content(folder: Path) -> None:
    before = Collection.from_folder(folder).signature()
    _img(folder / "b.png", 200)  # same name, other content (size or mtime changes)
    assert Collection.from_folder(folder).signature() != before
