"""core.spool: a record is on disk, complete, before put() returns; listed oldest first; removed or
quarantined; nothing half-written is ever a record."""

import stat

import pytest

from core.spool import Spool, SpoolFull


def test_put_writes_one_private_complete_file_per_record_oldest_first(tmp_path):
    spool = Spool(tmp_path / "spool")
    first = spool.put({"n": 1})
    second = spool.put({"n": 2, "text": "Kes \u00e9 \u2713"})

    entries = spool.entries()
    assert [entry.id for entry in entries] == [first, second]
    assert [spool.read(entry)["n"] for entry in entries] == [1, 2]
    assert spool.read(entries[1]) == {"n": 2, "text": "Kes \u00e9 \u2713", "spool_id": second}
    assert stat.S_IMODE(entries[0].path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    assert spool.stats().depth == 2


def test_a_write_in_progress_is_not_a_record(tmp_path):
    spool = Spool(tmp_path)
    (tmp_path / ".00000000000000000001-abc.tmp").write_text('{"half": ')
    assert spool.entries() == []
    assert Spool(tmp_path / "missing").entries() == []


def test_remove_quarantine_and_stats(tmp_path):
    spool = Spool(tmp_path)
    kept, bad = spool.put({"a": 1}), spool.put({"b": 2})
    entries = {entry.id: entry for entry in spool.entries()}
    spool.quarantine(entries[bad])
    spool.remove(entries[kept])
    spool.remove(entries[kept])  # twice is harmless (two replays)
    stats = spool.stats()
    assert (stats.depth, stats.oldest_seconds, stats.quarantined) == (0, None, 1)


def test_a_full_spool_refuses_and_keeps_nothing(tmp_path):
    spool = Spool(tmp_path, max_entries=2)
    spool.put({}), spool.put({})
    with pytest.raises(SpoolFull):
        spool.put({})
    assert len(spool.entries()) == 2
