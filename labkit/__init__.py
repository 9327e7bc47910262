"""VAE Lab Kit: the helpers shared by the lab notebooks on autoencoders and VAEs.

Notebooks use only the names listed in ``__all__``; each lives in a module named after its
topic (``labkit.data``, ``labkit.config``, ...), and dependencies flow one way:
config -> data -> backend -> models -> evaluation -> plots/widgets. The ``labkit`` command and
the instructor's tools (grading, release, rubrics) live in the package ``labkit_instructor``,
which ``import labkit`` never loads.
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
    LabData,
    MnistDataError,
    MnistFileNotFoundError,
    load_lab_data,
    load_mnist,
    train_validation_split,
)
from labkit.evaluation import (
    ACTIVE_UNIT_THRESHOLD,
    active_units,
    decode,
    encode,
    evaluate_autoencoder,
    evaluate_vae,
    interpolate,
    iwae_negative_log_likelihood,
    reconstruct,
    reconstruction_errors,
    sample_images,
)
from labkit.model_cache import SaveForLaterLabs, train_or_load
from labkit.models import (
    EVALUATION_SEED,
    VAE,
    Autoencoder,
    Sampling,
    build_autoencoder,
    build_vae,
    encoder_and_decoder,
    kl_divergence,
    latent_size,
    set_output_bias_to_mean_image,
    summed_binary_crossentropy,
)
from labkit.plots import (
    LearningSnapshots,
    fit_projection,
    manifold_grid,
    plot_history,
    plot_image_rows,
    plot_latent_space,
    plot_manifold,
    use_lab_style,
)
from labkit.reporting import (
    format_table,
    history_table,
    report_check,
    report_results,
)
from labkit.training import (
    PEAK_LEARNING_RATE,
    STEPS_PER_EXECUTION,
    EpochLog,
    compile_for_training,
    image_batches,
    learning_rate_schedule,
    train,
)
from labkit.widgets import InterpolationExplorer, LatentExplorer

__version__ = "0.1.0"

__all__ = [
    "ACTIVE_UNIT_THRESHOLD",
    "BATCH_SIZE",
    "EVALUATION_SEED",
    "IMAGE_SHAPE",
    "MNIST_FILES",
    "NUM_CLASSES",
    "NUM_PIXELS",
    "PEAK_LEARNING_RATE",
    "STEPS_PER_EXECUTION",
    "VAE",
    "Autoencoder",
    "EpochLog",
    "InterpolationExplorer",
    "LabData",
    "LabSettings",
    "LatentExplorer",
    "LearningSnapshots",
    "MnistDataError",
    "MnistFileNotFoundError",
    "Sampling",
    "SaveForLaterLabs",
    "active_units",
    "build_autoencoder",
    "build_vae",
    "compile_for_training",
    "decode",
    "encode",
    "encoder_and_decoder",
    "evaluate_autoencoder",
    "evaluate_vae",
    "fit_projection",
    "format_table",
    "history_table",
    "image_batches",
    "interpolate",
    "iwae_negative_log_likelihood",
    "kl_divergence",
    "latent_size",
    "learning_rate_schedule",
    "load_lab_data",
    "load_mnist",
    "load_settings",
    "manifold_grid",
    "plot_history",
    "plot_image_rows",
    "plot_latent_space",
    "plot_manifold",
    "reconstruct",
    "reconstruction_errors",
    "report_check",
    "report_results",
    "runtime_summary",
    "sample_images",
    "seed_everything",
    "set_output_bias_to_mean_image",
    "summed_binary_crossentropy",
    "train",
    "train_or_load",
    "train_validation_split",
    "use_lab_style",
]
