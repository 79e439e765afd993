"""The defaults audit: measured PyTorch vs Keras differences, and that the implementations neutralise them."""
import importlib.util

import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
    pytest.skip("the audit measures Keras on TensorFlow", allow_module_level=True)

from benchmark import runs  # noqa: E402
from benchmark.parity import audit as parity_audit  # noqa: E402


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "defaults_audit.json"
    report = parity_audit.defaults_audit(out)
    assert runs.read_json(out)["versions"]["keras"] == report["versions"]["keras"]
    return report


def test_padding_same_differs_for_odd_kernels_and_explicit_padding_matches(audit):
    for row in audit["padding"]["rows"]:
        assert row["keras_explicit_max_abs_diff"] == pytest.approx(0.0, abs=1e-5)
        if row["kernel"] == 4:  # the spec's geometry: "same" happens to agree
            assert row["keras_same_max_abs_diff"] == pytest.approx(0.0, abs=1e-5)
        elif row["kind"] == "conv" or row["output_padding"]:
            assert isinstance(row["keras_same_max_abs_diff"], str) or row["keras_same_max_abs_diff"] > 0.1


def test_batch_norm_momentum_and_running_variance(audit):
    bn = audit["batch_norm"]
    assert (bn["pytorch"]["momentum"], bn["pytorch"]["eps"]) == (0.1, 1e-5)
    assert (bn["keras_default"]["momentum"], bn["keras_default"]["eps"]) == (0.99, 1e-3)
    # same momentum (0.9 in Keras' convention), different variance estimator: n vs n - 1 on a batch of 8
    assert bn["keras_default"]["running_var_mean_at_momentum_0.9"] != pytest.approx(bn["pytorch"]["running_var_mean"],
                                                                                   rel=1e-3)
    assert bn["ours_running_var_max_abs_diff"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_optimizer_epsilon_placement(audit, name):
    row = audit["optimizers"]["parameter_after"][name]
    assert row["ours"] == pytest.approx(row["pytorch"], rel=1e-5)
    assert row["keras_default"] != pytest.approx(row["pytorch"], rel=0.1)


def test_initializers_slopes_and_tf32_defaults_differ(audit):
    dense = audit["initializers"]["dense_1024x1024"]
    assert dense["keras_default"]["dense_kernel_std"] != pytest.approx(dense["pytorch_default"]["dense_kernel_std"], rel=0.2)
    assert dense["keras_default"]["dense_bias_abs_max"] == 0.0 < dense["pytorch_default"]["dense_bias_abs_max"]
    assert audit["initializers"]["leaky_relu_default_slope"] == {"pytorch": 0.01, "keras": pytest.approx(0.3)}
    assert audit["tf32"]["keras"]["tensorflow_tf32_enabled_by_default"] is True
    assert audit["tf32"]["pytorch_defaults"] == {"matmul": False, "cudnn_conv": True}


def test_frameworks_share_a_process_only_with_torch_dynamo_imported_first(audit):
    by_order = {run["first_import"]: run for run in audit["shared_process"]["runs"]}
    assert by_order["torch._dynamo"]["ok"] is True
    # TensorFlow first: recorded, not asserted (PARITY-NOTES §1: a segfault, exit -11, with these versions)
    assert isinstance(by_order["tensorflow"]["exit_code"], int)
