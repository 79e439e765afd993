"""torch-fidelity plumbing: the classifier feature extractor, the input adaptation, weights and cache names.

Every metric number comes from ``torch_fidelity.calculate_metrics``; this module only feeds it:

* ``ImageSet`` turns uint8 [N, H, W] (or [N, H, W, 3]) into the dataset torch-fidelity expects (uint8 [3, H, W]
  items, grey repeated to three channels). The Inception extractor resizes to 299 x 299 itself.
* ``ClassifierFeatureExtractor`` (registered as ``"classifier"``) exposes a data set's project classifier's
  ``features`` (128-d, for FID / KID / precision-recall) and ``logits`` (for IS). Its ``forward`` returns
  them in the order of ``self.features_list``, which torch-fidelity builds from a set and so varies
  between processes (PARITY-NOTES §6).
* The reference set (input2) is cached by torch-fidelity under ``cache_root()`` with a name made of the
  split, the count and the extractor's weights hash, so features of one weights file (say a test's
  random Inception) are never reused for another.

Inception weights are taken from, in order: the ``weights`` argument (CLI ``--inception-weights``),
``$INCEPTION_WEIGHTS``, torch hub's cache, a download with a short timeout. When none works the caller
gets ``InceptionUnavailable`` with the reason.

torch-fidelity unpickles weights and its cache with ``weights_only=False``, which runs any code a crafted
file holds. So: torch hub's file (cached or downloaded) must have the official SHA-256; any other weights
file must load with ``weights_only=True`` as a state dict of tensors first; and every cache file of a
reference set must load with ``weights_only=True`` (tensors and numpy arrays) before torch-fidelity reads it,
else it is deleted and recomputed. (A file swapped between that check and torch-fidelity's load is not
caught: keep the cache folder and weights files writable by you alone.)
"""
from __future__ import annotations

import glob
import os
import socket
import sys
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import numpy as np
import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from benchmark.classifier import Classifier, file_sha256, load_classifier
from benchmark.data import DataError
from benchmark.datasets import DEFAULT_DATASET, load_dataset

CLASSIFIER_EXTRACTOR = "classifier"
INCEPTION_EXTRACTOR = "inception-v3-compat"
CACHE_ENV = "GANBENCH_CACHE"
INCEPTION_WEIGHTS_ENV = "INCEPTION_WEIGHTS"
DOWNLOAD_TIMEOUT_S = 20.0
# SHA-256 of torch-fidelity's release file (95,628,359 bytes); torch hub's name for it carries the first 8 digits.
OFFICIAL_INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
# Fixed seed of torch-fidelity's IS shuffling and KID subsets: the same for every run and framework.
RNG_SEED = 2020
# Images per forward pass: the small classifier runs faster in large batches on a CPU; Inception keeps
# torch-fidelity's 64 (its 299 x 299 activations are large).
BATCH_SIZES = {CLASSIFIER_EXTRACTOR: 500, INCEPTION_EXTRACTOR: 64}


class InceptionUnavailable(RuntimeError):
    """No Inception weights could be found or downloaded; the message says why."""


class ImageSet(Dataset):
    """uint8 [N, H, W] (grey) or [N, H, W, 3] (colour) -> items uint8 [3, H, W], grey repeated to RGB as
    torch-fidelity requires."""

    def __init__(self, images: np.ndarray):
        images = np.asarray(images)
        if images.dtype != np.uint8 or not (images.ndim == 3 or images.ndim == 4 and images.shape[-1] == 3):
            raise DataError(f"images must be uint8 [N, H, W] or [N, H, W, 3]; got {images.dtype} "
                            f"{list(images.shape)}")
        self.images = torch.from_numpy(np.array(images))  # a copy: MNIST arrays are read-only

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index]
        return image.unsqueeze(0).expand(3, -1, -1) if image.dim() == 2 else image.permute(2, 0, 1)


class ClassifierFeatureExtractor(FeatureExtractorBase):
    """A project classifier (the weights file's) as a torch-fidelity extractor: uint8 [B, 3, H, W] -> features,
    logits."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                 **kwargs):
        super().__init__(name, features_list)
        self.classifier: Classifier = load_classifier(feature_extractor_weights_path)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return "features", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "logits" if metric == "isc" else "features"

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.classifier.conv1.in_channels == 1:  # grey repeated to RGB by ImageSet: back to one channel
            x = x.float().mean(dim=1, keepdim=True)
        features, logits = self.classifier.features_and_logits(x.float() / 127.5 - 1.0)  # its [-1, 1] input range
        provided = {"features": features, "logits": logits}
        return tuple(provided[name] for name in self.features_list)


def register() -> None:
    """Register the classifier extractor with torch-fidelity once per process."""
    if CLASSIFIER_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(CLASSIFIER_EXTRACTOR, ClassifierFeatureExtractor)


def cache_root() -> Path:
    """``$GANBENCH_CACHE``, else ``$XDG_CACHE_HOME/gan-benchmark`` (``~/.cache/gan-benchmark``), + ``/fidelity``."""
    base = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gan-benchmark"
    return Path(base).expanduser() / "fidelity"


@contextmanager
def _socket_timeout(seconds: float):
    """torch hub's urlopen has no timeout of its own; bound it so an offline machine fails fast."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download_inception_weights(target: Path) -> None:
    """Download into a temporary sibling; only a file with the official SHA-256 gets the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.download")
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S), redirect_stdout(sys.stderr):
            torch.hub.download_url_to_file(URL_INCEPTION_V3, str(temporary), progress=False)
        digest = file_sha256(temporary)
        if digest != OFFICIAL_INCEPTION_SHA256:
            raise ValueError(f"the download has SHA-256 {digest[:16]}…, not the official {OFFICIAL_INCEPTION_SHA256[:16]}…")
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def _safe_globals() -> list:
    """What a file of tensors and numpy arrays needs beyond ``weights_only``'s defaults."""
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    dtypes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    return [multiarray._reconstruct, np.ndarray, np.dtype, *dtypes]


def safe_load(path: str | os.PathLike):
    """``torch.load`` that runs no code: tensors, numpy arrays and plain containers only, else an exception."""
    with torch.serialization.safe_globals(_safe_globals()):
        return torch.load(path, map_location="cpu", weights_only=True)


def check_weights_file(path: Path) -> None:
    """Refuse a weights file that is not a plain state dict: torch-fidelity loads it with ``weights_only=False``."""
    try:
        state = safe_load(path)
    except Exception as error:
        raise DataError(f"{path}: refused: not a plain weights file (a load with weights_only=True failed: "
                        f"{type(error).__name__}); torch-fidelity would unpickle it fully, which can run code") from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise DataError(f"{path}: refused: not a state dict of tensors")


def resolve_inception_weights(weights: str | os.PathLike | None = None) -> Path:
    """A local Inception weights file that is safe to load; ``DataError`` if a named one is missing or refused,
    else ``InceptionUnavailable``."""
    named = weights or os.environ.get(INCEPTION_WEIGHTS_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise DataError(f"{path}: Inception weights file not found (from --inception-weights or "
                            f"${INCEPTION_WEIGHTS_ENV})")
        if file_sha256(path) != OFFICIAL_INCEPTION_SHA256:
            check_weights_file(path)
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(URL_INCEPTION_V3).name
    if not cached.is_file():
        try:
            _download_inception_weights(cached)
        except Exception as error:  # any failure of the download means the same thing: no weights
            raise InceptionUnavailable(f"no weights: download of {URL_INCEPTION_V3} failed "
                                       f"({type(error).__name__}: {error}); pass --inception-weights PATH "
                                       f"or set ${INCEPTION_WEIGHTS_ENV}") from None
    digest = file_sha256(cached)
    if digest != OFFICIAL_INCEPTION_SHA256:
        raise InceptionUnavailable(f"{cached}: SHA-256 {digest[:16]}… is not the official weights' "
                                   f"({OFFICIAL_INCEPTION_SHA256[:16]}…); delete it to download it again")
    return cached


def drop_unsafe_cache(cache_name: str) -> None:
    """Delete (to be recomputed) every cache file of ``cache_name`` that does not load with weights_only=True:
    torch-fidelity would unpickle it fully, running whatever a planted file holds."""
    for path in sorted(cache_root().glob(f"{glob.escape(cache_name)}-*.pt")):
        try:
            safe_load(path)
        except Exception as error:
            print(f"warning: {path}: deleted, it is not a plain cache file ({type(error).__name__}); recomputing",
                  file=sys.stderr)
            path.unlink(missing_ok=True)


def reference_images(split: str, count: int, data_dir: str | os.PathLike | None = None,
                     dataset: str = DEFAULT_DATASET) -> np.ndarray:
    """The first ``count`` images of a split of ``dataset``: the real side of every comparison."""
    images = load_dataset(split, data_dir, dataset=dataset)[0]
    if not 0 < count <= len(images):
        raise DataError(f"reference count {count} is outside 1..{len(images)} for the {split} split")
    return images[:count]


def _common_kwargs(extractor: str, n_samples: int, n_reference: int) -> dict:
    return dict(cuda=torch.cuda.is_available(), batch_size=BATCH_SIZES[extractor], verbose=False,
                rng_seed=RNG_SEED, cache=True, cache_root=str(cache_root()), isc_splits=min(10, n_samples),
                kid_subset_size=min(1000, n_samples, n_reference),
                # no DataLoader workers (a 28 x 28 set is faster in-process); precision-recall then takes
                # torch-fidelity's batched path, which gives the same numbers with less memory
                save_cpu_ram=True)


def calculate(images: np.ndarray, extractor: str, weights: Path, reference: np.ndarray, reference_name: str,
              metrics: tuple[str, ...] = ("isc", "fid", "kid", "prc")) -> dict[str, float]:
    """torch-fidelity's metrics of ``images`` (input1) against ``reference`` (input2, cached by name).

    ``weights`` is the extractor's weights file; its hash is part of the cache name. Keys are
    torch-fidelity's (``torch_fidelity.KEY_METRIC_*``).
    """
    register()
    cache_name = f"{reference_name}-{file_sha256(weights)[:16]}"
    drop_unsafe_cache(cache_name)
    return torch_fidelity.calculate_metrics(
        input1=ImageSet(images), input2=ImageSet(reference), input2_cache_name=cache_name,
        feature_extractor=extractor, feature_extractor_weights_path=str(weights),
        **{metric: True for metric in metrics}, **_common_kwargs(extractor, len(images), len(reference)))
