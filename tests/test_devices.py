"""The report's refusal to compare timings from different device models (``benchmark.devices``)."""
from __future__ import annotations

import pandas as pd
import pytest

from benchmark import devices, runs
from benchmark.report import build as report_build
from benchmark.report.__main__ import main as report_main
from test_report import fabricate_suite  # the report's fabricated run folders


def test_timings_from_several_device_models_are_refused_unless_allowed():
    table = pd.DataFrame({"run": ["a", "b", "c", "d"], "steady_ms_per_step": [1.0, 2.0, 3.0, None],
                          "device_name": ["NVIDIA H100", "NVIDIA H100", "NVIDIA A100", "Tesla T4"]})
    with pytest.raises(devices.MixedDevicesError, match="2 device models.*NVIDIA A100: c; NVIDIA H100: a, b"):
        devices.check(table, allow_mixed=False)
    assert devices.check(table, allow_mixed=True) == {"NVIDIA A100": ["c"], "NVIDIA H100": ["a", "b"]}
    assert devices.check(table.iloc[:2], allow_mixed=False) == {"NVIDIA H100": ["a", "b"]}


def test_report_cli_refuses_mixed_devices_and_writes_them_when_allowed(tmp_path, capsys):
    out = fabricate_suite(tmp_path / "suite", seeds=(0,), failing=False)
    config_path = out / "runs" / "dcgan-pytorch-seed0" / runs.CONFIG
    config = runs.read_json(config_path)
    config["environment"]["device_name"] = "NVIDIA H100"
    runs.write_json(config_path, config)

    assert report_main([str(out)]) == 1
    assert "2 device models (NVIDIA H100: dcgan-pytorch-seed0; Test CPU: " in capsys.readouterr().err
    assert not (out / report_build.REPORT_MD).exists()
    assert report_main([str(out), devices.ALLOW_FLAG]) == 0
    assert "**Mixed devices**" in (out / report_build.REPORT_MD).read_text()
