"""VAE Lab Kit: the helpers shared by the lab notebooks on autoencoders and VAEs.

Notebooks use only the names listed in ``__all__``; each lives in a module named after its
topic (``labkit.data``, ``labkit.config``, ...), and dependencies flow one way:
config -> data -> backend -> models -> evaluation -> plots/widgets -> grading.
"""

from labkit.backend import runtime_summary, seed_everything
from labkit.config import (
    BATCH_SIZE,
    IMAGE_SHAPE,
    NUM_CLASSES,
    NUM_PIXELS,
    LabSettings,
    load_settings,
)
from labkit.data import (
    MNIST_FILES,
    MnistDataError,
    MnistFileNotFoundError,
    load_mnist,
    train_validation_split,
)
from labkit.evaluation import (
    active_units,
    decode,
    encode,
    evaluate_autoencoder,
    evaluate_vae,
    iwae_negative_log_likelihood,
    reconstruct,
    reconstruction_errors,
)
from labkit.models import (
    VAE,
    Autoencoder,
    Sampling,
    build_autoencoder,
    build_vae,
    kl_divergence,
)

__version__ = "0.1.0"

__all__ = [
    "BATCH_SIZE",
    "IMAGE_SHAPE",
    "MNIST_FILES",
    "NUM_CLASSES",
    "NUM_PIXELS",
    "VAE",
    "Autoencoder",
    "LabSettings",
    "MnistDataError",
    "MnistFileNotFoundError",
    "Sampling",
    "active_units",
    "build_autoencoder",
    "build_vae",
    "decode",
    "encode",
    "evaluate_autoencoder",
    "evaluate_vae",
    "iwae_negative_log_likelihood",
    "kl_divergence",
    "load_mnist",
    "load_settings",
    "reconstruct",
    "reconstruction_errors",
    "runtime_summary",
    "seed_everything",
    "train_validation_split",
]
