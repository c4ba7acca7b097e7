"""Atomic output: a failed write leaves the old file; a good one has ordinary permissions."""

import os

import pytest

from evosandbox.atomic import atomic_output


def test_success_replaces_the_file_with_plain_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as temporary:
        with open(temporary, "w") as handle:
            handle.write("new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == 0o666 & ~mask
    assert os.listdir(target.parent) == ["out.txt"]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            with open(temporary, "w") as handle:
                handle.write("half")
            raise RuntimeError("crash in the middle")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]
