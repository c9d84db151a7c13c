"""The block:// mount prologue, run for real with a stand-in for mount(8): it tries ext4 without
journal replay, XFS without recovery and plain read-only in turn, then execs the command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ironplane.compiler.block_mount import BLOCK_DEVICE, MOUNT_FIRST, PROLOGUE_NAME, mount_then


def run_prologue(tmp_path: Path, mount_script: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text(mount_script)
    (bin_dir / "mount").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    command = ["/bin/sh", "-c", MOUNT_FIRST, PROLOGUE_NAME, "/dev/x", "/w", "echo", "serving"]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("works_with", "expected"),
    [
        ("ro,noload", "ro,noload"),
        ("ro,norecovery", "ro,noload ro,norecovery"),
        ("ro", "ro,noload ro,norecovery ro"),
    ],
)
def test_each_read_only_mode_is_tried_in_turn_then_the_command_runs(
    tmp_path: Path, works_with: str, expected: str
) -> None:
    tried = tmp_path / "tried"
    done = run_prologue(
        tmp_path,
        f'#!/bin/sh\necho "$2 $3 $4" >> {tried}\n[ "$2" = "{works_with}" ] && exit 0\nexit 32\n',
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "serving\n"
    lines = tried.read_text().splitlines()
    assert [line.split()[0] for line in lines] == expected.split()
    assert all(line.split()[1:] == ["/dev/x", "/w"] for line in lines)


def test_it_stops_when_nothing_mounts(tmp_path: Path) -> None:
    done = run_prologue(tmp_path, '#!/bin/sh\necho "mount: $2: permission denied" >&2\nexit 32\n')
    assert done.returncode == 1 and "serving" not in done.stdout
    # The last attempt's error says why (here: no privilege).
    assert "cannot mount the weights volume /dev/x on /w" in done.stderr
    assert done.stderr.rstrip().endswith("mount: ro: permission denied")


def test_the_command_keeps_its_arguments() -> None:
    wrapped = mount_then(["torchrun", "train.py", "--lr", "1e-4"], "/weights")
    assert wrapped[:6] == ["/bin/sh", "-c", MOUNT_FIRST, PROLOGUE_NAME, BLOCK_DEVICE, "/weights"]
    assert wrapped[6:] == ["torchrun", "train.py", "--lr", "1e-4"]
