"""Schedules and time zones in specs: refused with the field's location before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

JOB = "kind: Job\nname: nightly\nworkspace: prod\nimage: example.com/j:1\ncommand: [run]\n"
SERVICE = (
    "kind: Service\nname: web-api\nworkspace: prod\nimage: example.com/w:1\n"
    "autoscaling: {min: 1, max: 4, metric: cron, start: '0 8 * * *', end: '0 20 * * *', "
)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (JOB + "schedule: '0 2 * * *'\ntimezone: Mars/Base\n", 7, "unknown time zone 'Mars/Base'"),
        (SERVICE + "timezone: Europe/Atlantis}\n", 5, "unknown time zone 'Europe/Atlantis'"),
    ],
)
def test_unknown_time_zones_are_refused(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    code, out, err = run_cli(["render", "-f", str(path)])
    assert code == 2 and out == "", err
    located = [ln for ln in err.splitlines() if ln.startswith(f"{path}:{line}:")]
    assert located and message in located[0] and "IANA" in located[0], err


def test_known_time_zones_pass(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(JOB + "schedule: '0 2 * * *'\ntimezone: Europe/Paris\n")
    code, out, err = run_cli(["render", "-f", str(path)])
    assert code == 0 and "kind: CronJob" in out, err


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("99 2 * * *", "minute field '99': 99 is out of range 0-59"),
        ("0 2 * *", "expected 5 fields"),
        ("0 25 * * *", "hour field '25'"),
    ],
)
def test_out_of_range_schedules_are_refused_at_their_line(
    tmp_path: Path, schedule: str, message: str
) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(JOB + f"schedule: '{schedule}'\n")
    code, out, err = run_cli(["render", "-f", str(path)])
    assert code == 2 and out == "", err
    assert message in err, err
