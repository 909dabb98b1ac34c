import pytest

from gradcheck_bench.tools.atomic_files import atomic_open, write_text_atomically


def test_write_replaces_the_whole_file(tmp_path):
    target = tmp_path / "sub" / "report.csv"
    write_text_atomically(target, "old\n")
    write_text_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["report.csv"]


def test_a_crash_mid_write_leaves_the_previous_file_and_no_debris(tmp_path):
    target = tmp_path / "report.json"
    write_text_atomically(target, '{"complete": true}')
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write('{"compl')
            raise RuntimeError("killed mid-write")
    assert target.read_text() == '{"complete": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_written_files_are_readable_by_others_as_the_umask_allows(tmp_path):
    import os

    target = write_text_atomically(tmp_path / "r.csv", "x\n")
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~mask)
