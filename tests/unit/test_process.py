from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from skillmind.services.process import PidFile, spawn, split_address, terminate


def test_split_address() -> None:
    assert split_address("127.0.0.1:15432") == ("127.0.0.1", 15432)
    assert split_address(":7070") == ("127.0.0.1", 7070)


def test_pid_file_tracks_only_a_live_process(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "x.pid")
    assert pid_file.alive_pid() is None
    pid = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "x.log", pid_file=pid_file)
    assert pid_file.alive_pid() == pid
    assert terminate(pid_file, timeout_s=5)
    assert pid_file.alive_pid() is None
    assert not pid_file.path.exists()
    assert terminate(pid_file) is False  # nothing to stop is not an error


def test_stale_pid_file_is_not_alive(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid_file = PidFile(tmp_path / "stale.pid")
    pid_file.write(int(done.stdout))
    assert pid_file.alive_pid() is None


def test_kafka_cluster_ids_never_look_like_options() -> None:
    from skillmind.services.kafka import new_cluster_id

    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_pid_file_of_another_process_with_the_same_number_is_not_ours(tmp_path: Path) -> None:
    """A pid file restored from a disk snapshot names a pid that some other program now has.

    The file records the process's boot id and start time; a live process with the same pid
    but another identity is not ours, so `services up` starts the service instead of waiting.
    """
    import os

    pid_file = PidFile(tmp_path / "reused.pid")
    # Our own (live) pid, recorded with the identity it would have had in an earlier boot.
    pid_file.path.write_text(f"{os.getpid()} 00000000-0000-0000-0000-000000000000:1\n")
    assert pid_file.alive_pid() is None
    # The same live pid in the older one-number format proves nothing either.
    pid_file.path.write_text(f"{os.getpid()}\n")
    assert pid_file.alive_pid() is None
    pid_file.write(os.getpid())
    assert pid_file.alive_pid() == os.getpid()
