"""VAE Lab Kit: the helpers the lab notebooks share, one module per topic.

``import labkit`` is quick: the first name a notebook uses (``labkit.load_settings``) imports
them all, TensorFlow first and quietly. ``labkit.config``, ``labkit.reporting``, ``labkit.checks``
and ``labkit.data`` (reading a folder) need no TensorFlow: the grader imports them alone.
"""

import importlib

__version__ = "0.1.0"

# The public names, by the module that defines them: backend first, so TensorFlow starts muted.
_MODULES = {
    "backend": ("runtime_summary", "seed_everything"),
    "config": ("NUM_CLASSES", "NUM_PIXELS", "load_settings"),
    "data": ("load_lab_data", "load_mnist"),
    "models": (
        "EVALUATION_SEED",
        "VAE",
        "Sampling",
        "build_autoencoder",
        "build_vae",
        "kl_divergence",
        "set_output_bias_to_mean_image",
        "summed_binary_crossentropy",
    ),
    "training": (
        "STEPS_PER_EXECUTION",
        "EpochLog",
        "compile_for_data",
        "image_batches",
        "learning_rate_schedule",
        "seconds_per_epoch",
    ),
    "model_cache": ("SaveForLaterLabs", "train_or_load"),
    "evaluation": ("decode", "encode", "evaluate_autoencoder", "evaluate_vae", "sample_images"),
    "plots": (
        "LearningSnapshots",
        "plot_history",
        "plot_image_rows",
        "plot_latent_space",
        "plot_manifold",
        "show",
        "use_lab_style",
    ),
    "widgets": ("InterpolationExplorer", "LatentExplorer"),
    "reporting": ("format_table", "report_results"),
    "checks": ("check_exercise",),
}

__all__ = sorted(name for names in _MODULES.values() for name in names)


def __getattr__(name: str):
    # Called only for a name not yet here: the first public name, or module, used loads them all.
    if name not in __all__ and name not in _MODULES:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}")
    for module, names in _MODULES.items():
        loaded = importlib.import_module(f"labkit.{module}")
        globals().update({each: getattr(loaded, each) for each in names})
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_MODULES})
