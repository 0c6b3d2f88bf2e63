"""benchmarks/bench_train_step.py still runs against the current models: its --quick mode, in this
process (TensorFlow's thread pools left as they are); no speed is asserted."""

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEED_UP = re.compile(r"^speed-up: (\S+)x  (\S.*)$")


def _script(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_train_step", ROOT / "benchmarks" / "bench_train_step.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # about a minute of tracing; .ci/run runs it as a step of its own
def test_quick_run_prints_finite_positive_speed_ups(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the default --config config.yaml: the demo's
    assert _script(monkeypatch).main(["--quick", "--threads", "0"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("speed-up:")]
    speed_ups = [SPEED_UP.match(line) for line in lines]
    assert all(speed_ups), lines
    # the ceilings: 1; part 2: fp32 and bf16 over the tutorial loop; part 3: 3 models, bf16 over fp32, and the
    # per-culture GAN at both over the tutorial loop; part 4: 2
    assert len(speed_ups) == 10, lines
    for match in speed_ups:
        value = float(match.group(1))
        assert math.isfinite(value) and value > 0, match.group(0)
    wanted = (
        "bf16 over float32 matmul ceiling",
        "over the DCGAN tutorial loop",
        "per-culture GAN, mixed bf16",
        "joint GAN, mixed bf16",
        "translator, mixed bf16",
        "over the DCGAN tutorial loop, the config's per-culture GAN",
    )
    for what in wanted:
        assert any(what in match.group(2) for match in speed_ups), what
    assert re.search(r"the largest fraction reached: \d+\.\d%", out)
    assert re.search(r"fixed per-step cost .*: \d+\.\d ms", out)
    assert re.search(r"fp32 ceiling: start \d+\.\d \[\d+\.\d-\d+\.\d\], end \d+\.\d \[\d+\.\d-\d+\.\d\] GFLOP/s", out)
