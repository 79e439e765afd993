"""The report's refusal to compare timings from different device models (``benchmark.devices``)."""
from __future__ import annotations

import pandas as pd
import pytest

from benchmark import devices


def test_timings_from_several_device_models_are_refused_unless_allowed():
    table = pd.DataFrame({"run": ["a", "b", "c", "d"], "steady_ms_per_step": [1.0, 2.0, 3.0, None],
                          "device_name": ["NVIDIA H100", "NVIDIA H100", "NVIDIA A100", "Tesla T4"]})
    with pytest.raises(devices.MixedDevicesError, match="2 device models.*NVIDIA A100: c; NVIDIA H100: a, b"):
        devices.check(table, allow_mixed=False)
    assert devices.check(table, allow_mixed=True) == {"NVIDIA A100": ["c"], "NVIDIA H100": ["a", "b"]}
    assert devices.check(table.iloc[:2], allow_mixed=False) == {"NVIDIA H100": ["a", "b"]}
