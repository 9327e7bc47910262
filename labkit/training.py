"""Training the lab's models with the lab's settings, for notebooks that compare several.

Notebooks 02 and 03 write ``compile`` and ``fit`` out in full, since that is what they teach;
notebooks 04 and 05 train several models on the same footing and call :func:`train` instead.
"""

from __future__ import annotations

from labkit.backend import keras
from labkit.config import LabSettings
from labkit.data import LabData
from labkit.models import VAE, EncoderDecoderModel

__all__ = ["LEARNING_RATE", "train"]

LEARNING_RATE = 1e-3  # Adam's default, as in the lab


def train(
    model: EncoderDecoderModel,
    data: LabData,
    settings: LabSettings,
    *,
    learning_rate: float = LEARNING_RATE,
    verbose: int = 0,
) -> dict[str, list[float]]:
    """Compile ``model`` with Adam and train it on ``data.x_train``, validating on ``data.x_val``.

    A VAE trains on its own loss (negative ELBO, nats per image); an autoencoder on the mean
    squared error, as the lab does. Epochs and batch size come from ``settings``.

    Returns:
        The Keras history dict: ``loss`` and ``val_loss`` per epoch, and for a VAE also
        ``reconstruction_loss``, ``kl_loss`` and their ``val_`` versions.
    """
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    if isinstance(model, VAE):
        model.compile(optimizer=optimizer)
        targets, validation = (), (data.x_val,)
    else:
        model.compile(optimizer=optimizer, loss="mse")
        targets, validation = (data.x_train,), (data.x_val, data.x_val)
    history = model.fit(
        data.x_train,
        *targets,
        validation_data=validation,
        epochs=settings.num_epochs,
        batch_size=settings.batch_size,
        verbose=verbose,
    )
    return history.history
