"""Test negative ELBO after the lab's 10 epochs, for the kit's recipe or a variant of it.

Trains a VAE on the notebooks' data (55,000 training images, 5,000 held out for validation)
for each seed given, and prints its test negative ELBO in nats per image, as notebook 03
measures it. The options switch off one part of the recipe at a time, which is how the quality
table of docs/performance.md was measured:

    python benchmarks/benchmark_quality.py --latent-dim 2 --seeds 42 1 2
    python benchmarks/benchmark_quality.py --latent-dim 20
    python benchmarks/benchmark_quality.py --constant-learning-rate 1e-3 --batch-size 256 \\
        --no-pixel-means                                # the lab's own settings

The seeds are not chosen to make a number: 42 is the kit's default seed, 1 and 2 the next
ones tried.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time

import labkit
from labkit.backend import keras
from labkit.config import DEFAULT_SEED
from labkit.training import PEAK_LEARNING_RATE


def train_and_measure(arguments: argparse.Namespace, seed: int) -> dict:
    settings = dataclasses.replace(
        labkit.load_settings(), seed=seed, batch_size=arguments.batch_size
    )
    data = labkit.load_lab_data(settings)
    labkit.seed_everything(seed)
    pixel_means = None if arguments.no_pixel_means else data.x_train.mean(axis=0)
    vae = labkit.build_vae(latent_dim=arguments.latent_dim, pixel_means=pixel_means)
    steps_per_epoch = math.ceil(len(data.x_train) / settings.batch_size)
    if arguments.constant_learning_rate:
        learning_rate = arguments.constant_learning_rate
    else:
        learning_rate = labkit.learning_rate_schedule(
            settings.num_epochs, steps_per_epoch, arguments.peak_learning_rate
        )
    vae.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        jit_compile=True,
        steps_per_execution=labkit.STEPS_PER_EXECUTION,
    )
    started = time.perf_counter()
    vae.fit(
        labkit.image_batches(data.x_train, settings.batch_size, shuffle_seed=seed),
        epochs=settings.num_epochs,
        shuffle=False,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    test = vae.evaluate(labkit.image_batches(data.x_test, 1_000), verbose=0, return_dict=True)
    return {"seed": seed, "seconds": seconds, **test}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[DEFAULT_SEED])
    parser.add_argument("--batch-size", type=int, default=labkit.config.BATCH_SIZE)
    parser.add_argument("--peak-learning-rate", type=float, default=PEAK_LEARNING_RATE)
    parser.add_argument(
        "--constant-learning-rate",
        type=float,
        help="Adam with this constant rate instead of the kit's schedule",
    )
    parser.add_argument(
        "--no-pixel-means",
        action="store_true",
        help="start the decoder's output bias at zero (Keras's default)",
    )
    arguments = parser.parse_args(argv)
    print("Settings:", vars(arguments))
    rows = []
    for seed in arguments.seeds:
        result = train_and_measure(arguments, seed)
        print(
            f"  seed {seed}: test negative ELBO {result['loss']:.2f} nats "
            f"({result['reconstruction_loss']:.2f} + {result['kl_loss']:.2f} KL), "
            f"{result['seconds']:.0f} s of training",
            flush=True,
        )
        rows.append(result)
    print(
        f"median over {len(rows)} seed(s): "
        f"{statistics.median(row['loss'] for row in rows):.2f} nats per image"
    )


if __name__ == "__main__":
    main()
