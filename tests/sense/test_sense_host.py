"""Memory and disk readings on this real machine, checked against free, df and df -i."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import psutil
from support.clock import ManualClock

from calmopsd.config.sensing import DiskSamplerConfig, MemorySamplerConfig
from calmopsd.sense.disk import DiskSampler
from calmopsd.sense.memory import MemorySampler


def command_columns(*argv: str) -> list[list[str]]:
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    return [line.split() for line in out.splitlines()]


def test_memory_readings_are_in_range_and_agree_with_free() -> None:
    values = MemorySampler(MemorySamplerConfig(top_processes=3)).sample()
    mem_row = next(row for row in command_columns("free", "-b") if row[0] == "Mem:")
    total, available = int(mem_row[1]), int(mem_row[6])

    assert values["total_bytes"] == total
    assert abs(values["available_bytes"] - available) < 0.05 * total
    assert 0 <= values["used_percent"] <= 100
    derived = 100 * (values["total_bytes"] - values["available_bytes"]) / values["total_bytes"]
    assert abs(values["used_percent"] - derived) < 0.1
    assert 0 <= values["swap_used_percent"] <= 100


def test_memory_lists_the_largest_processes_biggest_first_with_real_pids() -> None:
    top = MemorySampler(MemorySamplerConfig(top_processes=3)).sample()["top_processes"]
    assert len(top) == 3
    rss = [p["rss_bytes"] for p in top]
    assert rss == sorted(rss, reverse=True)
    assert all(Path(f"/proc/{p['pid']}").exists() or p["pid"] == os.getpid() for p in top)
    assert MemorySampler(MemorySamplerConfig(top_processes=0)).sample()["top_processes"] == []


def test_disk_readings_agree_with_df(tmp_path: Path) -> None:
    values = DiskSampler(DiskSamplerConfig(mounts=[Path("/")])).sample()["mounts"]["/"]
    df = command_columns("df", "-B1", "--output=size,used,avail,ipcent", "/")[1]
    size, used, avail = int(df[0]), int(df[1]), int(df[2])
    inode_percent = float(df[3].rstrip("%"))

    assert values["total_bytes"] == size
    assert abs(values["used_bytes"] - used) < 0.01 * size  # other writers may move it a little
    assert abs(values["free_bytes"] - avail) < 0.01 * size
    assert abs(values["used_percent"] - 100 * used / (used + avail)) < 1
    assert abs(values["inodes_used_percent"] - inode_percent) <= 1


def test_the_fill_rate_and_time_until_full_come_from_the_history() -> None:
    clock = ManualClock()
    sampler = DiskSampler(
        DiskSamplerConfig(mounts=[Path("/")], fill_rate_window=timedelta(hours=1)), clock
    )
    assert sampler.sample()["mounts"]["/"]["fill_bytes_per_hour"] is None  # one point: no rate

    sampler = DiskSampler(
        DiskSamplerConfig(mounts=[Path("/")], fill_rate_window=timedelta(hours=1)), clock
    )
    before = psutil.disk_usage("/").used
    grown = 10 * 2**30  # pretend the disk held 10 GiB less an hour ago
    sampler.seed([("/", clock.now() - timedelta(hours=1), before - grown)])
    now = sampler.sample()["mounts"]["/"]

    real_drift = now["used_bytes"] - before
    assert abs(now["fill_bytes_per_hour"] - (grown + real_drift)) <= 1
    expected = now["free_bytes"] / now["fill_bytes_per_hour"]
    assert abs(now["hours_until_full"] - expected) <= 0.01


def test_no_fill_rate_until_the_history_spans_a_quarter_of_the_window() -> None:
    clock = ManualClock()
    sampler = DiskSampler(
        DiskSamplerConfig(mounts=[Path("/")], fill_rate_window=timedelta(hours=1)), clock
    )
    used = psutil.disk_usage("/").used
    sampler.seed([("/", clock.now() - timedelta(minutes=14), used - 2**30)])
    assert sampler.sample()["mounts"]["/"]["hours_until_full"] is None  # 14 min: too short
    clock.advance(timedelta(minutes=2))
    assert sampler.sample()["mounts"]["/"]["fill_bytes_per_hour"] is not None  # 16 min


def test_a_shrinking_disk_has_no_time_until_full() -> None:
    clock = ManualClock()
    sampler = DiskSampler(DiskSamplerConfig(mounts=[Path("/")]), clock)
    used = sampler.sample()["mounts"]["/"]["used_bytes"]
    sampler = DiskSampler(DiskSamplerConfig(mounts=[Path("/")]), clock)
    step = psutil.disk_usage("/").total // 250  # 0.4 % a reading: shrinking, not freed at once
    sampler.seed(
        [("/", clock.now() - timedelta(minutes=5 * n), used + n * step) for n in range(6, 0, -1)]
    )
    now = sampler.sample()["mounts"]["/"]
    assert now["fill_bytes_per_hour"] < 0
    assert now["hours_until_full"] is None


def test_a_missing_mount_is_a_reading_not_an_exception(tmp_path: Path) -> None:
    gone = tmp_path / "not-mounted"
    values = DiskSampler(DiskSamplerConfig(mounts=[gone])).sample()
    assert values == {"mounts": {str(gone): {"error": "No such file or directory"}}}


def test_space_freed_at_once_starts_the_fill_rate_afresh() -> None:
    """After a clean-up the fill rate is judged from after it: the window that still
    holds the fill it undid does not keep the disk "filling"."""
    clock = ManualClock()
    sampler = DiskSampler(
        DiskSamplerConfig(mounts=[Path("/")], fill_rate_window=timedelta(hours=1)), clock
    )
    usage = psutil.disk_usage("/")
    freed = max(usage.total // 50, 2**20)  # 2 % of the disk, held before and freed now
    sampler.seed(
        [
            ("/", clock.now() - timedelta(hours=1), usage.used),
            ("/", clock.now() - timedelta(minutes=1), usage.used + freed),
        ]
    )
    after = sampler.sample()["mounts"]["/"]
    assert (after["fill_bytes_per_hour"], after["hours_until_full"]) == (None, None)
    clock.advance(timedelta(minutes=16))
    assert sampler.sample()["mounts"]["/"]["fill_bytes_per_hour"] is not None  # judged again


def test_a_small_drop_keeps_the_history() -> None:
    clock = ManualClock()
    sampler = DiskSampler(
        DiskSamplerConfig(mounts=[Path("/")], fill_rate_window=timedelta(hours=1)), clock
    )
    usage = psutil.disk_usage("/")
    sampler.seed([("/", clock.now() - timedelta(hours=1), usage.used - 2**30)])
    sampler.seed([("/", clock.now() - timedelta(minutes=1), usage.used + 2**20)])  # 1 MiB more
    assert sampler.sample()["mounts"]["/"]["fill_bytes_per_hour"] is not None
