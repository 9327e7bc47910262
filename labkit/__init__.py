"""VAE Lab Kit: the helpers the lab notebooks share, one module per topic.

Notebooks use only the names in ``__all__``. Dependencies flow one way: config -> data -> backend
-> models -> evaluation -> plots/widgets; ``import labkit`` never loads ``labkit_instructor``.
"""

from labkit.backend import runtime_summary, seed_everything
from labkit.checks import check_exercise
from labkit.config import IMAGE_SHAPE, NUM_CLASSES, NUM_PIXELS, load_settings
from labkit.data import load_lab_data, load_mnist, one_hot
from labkit.evaluation import (
    decode,
    encode,
    evaluate_autoencoder,
    evaluate_vae,
    interpolate,
    iwae_negative_log_likelihood,
    nearest_neighbour_accuracy,
    reconstruct,
    reconstruction_errors,
    sample_images,
)
from labkit.model_cache import SaveForLaterLabs, train_or_load
from labkit.models import (
    EVALUATION_SEED,
    VAE,
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
    plot_history,
    plot_image_rows,
    plot_latent_space,
    plot_manifold,
    show,
    use_lab_style,
)
from labkit.reporting import format_table, history_table, report_results
from labkit.training import (
    STEPS_PER_EXECUTION,
    EpochLog,
    compile_for_data,
    image_batches,
    learning_rate_schedule,
    seconds_per_epoch,
)
from labkit.widgets import ConditionalExplorer, InterpolationExplorer, LatentExplorer

__version__ = "0.1.0"

__all__ = [
    "EVALUATION_SEED",
    "IMAGE_SHAPE",
    "NUM_CLASSES",
    "NUM_PIXELS",
    "STEPS_PER_EXECUTION",
    "VAE",
    "ConditionalExplorer",
    "EpochLog",
    "InterpolationExplorer",
    "LatentExplorer",
    "LearningSnapshots",
    "Sampling",
    "SaveForLaterLabs",
    "build_autoencoder",
    "build_vae",
    "check_exercise",
    "compile_for_data",
    "decode",
    "encode",
    "encoder_and_decoder",
    "evaluate_autoencoder",
    "evaluate_vae",
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
    "nearest_neighbour_accuracy",
    "one_hot",
    "plot_history",
    "plot_image_rows",
    "plot_latent_space",
    "plot_manifold",
    "reconstruct",
    "reconstruction_errors",
    "report_results",
    "runtime_summary",
    "sample_images",
    "seconds_per_epoch",
    "seed_everything",
    "set_output_bias_to_mean_image",
    "show",
    "summed_binary_crossentropy",
    "train_or_load",
    "use_lab_style",
]
