import json
import subprocess
import sys

import pytest

from sdserve.cli import main

RECORDING = {
    "containerConcurrency": 1,
    "annotations": {"autoscaling.knative.dev/maxScale": "3",
                    "autoscaling.knative.dev/targetUtilizationPercentage": "100"},
    "config": {"stable-window": "6s"},
    "ticks": [
        {"t": 0, "ready": 0, "stable": 0, "panic": 0},
        {"t": 2, "ready": 1, "stable": 2, "panic": 5, "reachable": True},
        {"t": 4, "ready": 5, "stable": 5, "panic": 5},
        {"t": 30, "ready": 5, "stable": 0, "panic": 0},
    ],
}


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_replay_prints_one_line_per_tick_unclamped(tmp_path, capsys):
    path = tmp_path / "load.json"
    path.write_text(json.dumps(RECORDING))
    assert main(["autoscaler", "replay", str(path)]) == 0
    out = lines(capsys.readouterr().out)
    assert [line["t"] for line in out] == [0, 2, 4, 30]
    # desired is before max-scale (3) clamps it, as Knative's Scale returns it
    assert [line["desired"] for line in out] == [0, 5, 5, 2]
    assert [line["panic_mode"] for line in out] == [False, True, True, False]
    assert out[0]["excess_burst_capacity"] == -211
    assert set(out[0]) == {"t", "desired", "panic_mode", "excess_burst_capacity"}


def test_replay_starts_in_panic_when_first_tick_has_replicas(tmp_path, capsys):
    recording = {**RECORDING, "ticks": [{"t": 10, "ready": 4, "stable": 0, "panic": 0},
                                        {"t": 17, "ready": 4, "stable": 0, "panic": 0}]}
    path = tmp_path / "load.json"
    path.write_text(json.dumps(recording))
    assert main(["autoscaler", "replay", str(path)]) == 0
    out = lines(capsys.readouterr().out)
    assert [(line["desired"], line["panic_mode"]) for line in out] == [(4, True), (2, False)]


@pytest.mark.parametrize(("recording", "message"), [
    ({"ticks": [{"t": 0, "ready": -1, "stable": 0, "panic": 0}]}, "ticks[0].ready"),
    ({"ticks": [{"t": 0, "ready": 1, "stable": "x", "panic": 0}]}, "ticks[0].stable"),
    ({"ticks": [{"t": 0, "ready": 1, "stable": 0, "panic": 0, "reachable": "yes"}]},
     "ticks[0].reachable"),
    ({"ticks": 3}, "ticks"),
    ({"annotations": {"autoscaling.knative.dev/window": "1s"}, "ticks": []},
     'annotations["autoscaling.knative.dev/window"]'),
    ({"config": {"stable-window": "x"}, "ticks": []}, 'config-autoscaler["stable-window"]'),
    ({"containerConcurrency": "one", "ticks": []}, "containerConcurrency"),
    ([], "(json)"),
])
def test_replay_bad_input_exits_2_naming_the_field(tmp_path, capsys, recording, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(recording))
    assert main(["autoscaler", "replay", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_replay_unreadable_input(tmp_path, capsys):
    assert main(["autoscaler", "replay", str(tmp_path / "missing.json")]) == 2
    (tmp_path / "broken.json").write_text("{")
    assert main(["autoscaler", "replay", str(tmp_path / "broken.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


@pytest.mark.slow
def test_replay_reads_stdin_in_a_real_process():
    result = subprocess.run([sys.executable, "-m", "sdserve", "autoscaler", "replay", "-"],
                            input=json.dumps(RECORDING), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert [line["desired"] for line in lines(result.stdout)] == [0, 5, 5, 2]
