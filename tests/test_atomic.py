import os

import pytest

from raydd.atomic import atomic_write


def test_the_file_appears_whole_and_readable_with_no_temporary_left(tmp_path):
    target = tmp_path / "sub" / "data.bin"
    with atomic_write(target) as out:
        out.write(b"abc")
        assert not target.exists()  # invisible until the block ends
    assert target.read_bytes() == b"abc"
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.bin"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as out:
            out.write(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]
