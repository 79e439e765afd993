"""PyTorch <-> Keras parity: the same model, weights and inputs must give the same numbers in both frameworks.

The two frameworks never share a process (PARITY-NOTES §1): PyTorch runs in the caller (``torch_side``),
Keras in a ``python -m benchmark.parity keras-worker`` subprocess per backend (``keras_side``), and they
exchange numpy arrays through pickle files (``worker``). Weights cross in Keras' layout (``torch_side``).

Comparisons are made in float64 (``probe_spec``), where the two frameworks agree to rounding; in float32 a
parameter whose true gradient is near zero moves by ±lr under Adam or RMSprop depending on the CPU's
summation order (PARITY-NOTES §7), so float32 drift is measured (``lockstep``), never asserted.

* ``probes``: what each side computes from the same task (outputs, losses, gradients, optimiser steps on
  given gradients, several training iterations, then the trainer's own ``generate``) and ``checks``, the
  comparison of two probes.
* ``mutations``: known framework differences, applied to the Keras side only, that the checks must catch.
* ``lockstep`` (float32 drift per step) and ``audit`` (measured framework defaults) write JSON for the report.
"""
BACKENDS = ("tensorflow", "jax")
FIT_BACKENDS = ("torch",)  # Keras backends probed in Model.fit only (keras-torch-fit): no stateless step there
