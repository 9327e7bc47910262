"""Lab 05's check: the beta-weighted loss (``beta_loss``), on Lab 03's stand-ins."""

from __future__ import annotations

import numpy as np

from labkit.checks import (
    Answers,
    Inputs,
    Verdict,
    _close,
    _exercise,
    _first,
)
from labkit.checks.lab03 import (
    LOSS_NAMES,
    _draw_loss,
    _judge_training,
    _losses,
    _reference_losses,
    _stand_ins,
    _training_answers,
)


def _draw_beta_loss(rng: np.random.Generator, hidden: bool) -> Inputs:
    # Lab 03's images and stand-ins; beta = 0, a fraction and more than 1 (hidden: 1 and a
    # large one too), drawn anew each run so that no answer can be tuned to them.
    betas = [0.0, rng.uniform(0.2, 0.8), rng.uniform(2.0, 8.0)]
    if hidden:
        betas += [1.0, rng.uniform(10.0, 50.0)]
    return {**_draw_loss(rng, hidden), "betas": np.array(betas)}


class _KitLossCalled(Exception):
    """The answer ran labkit.VAE's own loss (``super().compute_losses``) instead of its own."""


def _kit_loss_called(*args, **kwargs):
    raise _KitLossCalled


def _run_beta_loss(inputs: Inputs, beta_vae_class) -> Answers:
    from labkit.models import VAE

    images = inputs["images"]
    by_beta = []
    # labkit.VAE computes the weighted loss through _negative_elbo: replaced while the answer
    # runs, a call to it (super().compute_losses, or the class's own) tells that the answer did
    # not compute the loss itself.
    kits_loss, VAE._negative_elbo = VAE._negative_elbo, _kit_loss_called
    try:
        for beta in inputs["betas"]:
            encoder, decoder = _stand_ins(inputs)
            model = beta_vae_class(encoder, decoder, beta=float(beta))
            try:
                by_beta.append(
                    {
                        "batch": _losses(model.compute_losses(images)),
                        "each": [
                            _losses(model.compute_losses(images[i : i + 1]))
                            for i in range(len(images))
                        ],
                    }
                )
            except ZeroDivisionError:  # 1 / self.beta at beta = 0: judged on the other betas
                by_beta.append(None)
        beta = float(inputs["betas"][2])  # more than 1: the weight shows in the gradients
        training = _training_answers(
            inputs, lambda encoder, decoder: beta_vae_class(encoder, decoder, beta=beta), beta
        )
    except _KitLossCalled:
        return {"kit_loss": True, "by_beta": []}
    finally:
        VAE._negative_elbo = kits_loss
    return {"kit_loss": False, "by_beta": by_beta, "training": training}


@_exercise("beta_loss", _draw_beta_loss, _run_beta_loss)
def _judge_beta_loss(inputs: Inputs, answers: Answers) -> Verdict:
    if answers["kit_loss"]:
        return Verdict(
            {"computes the loss itself": False},
            "Your compute_losses calls labkit.VAE's own (super().compute_losses): write the "
            "loss yourself, Lab 03's two terms with the KL weighted by self.beta.",
        )
    betas, results = inputs["betas"], answers["by_beta"]
    reference = _reference_losses(inputs)
    ref_reconstruction, ref_kl = reference["reconstruction"], reference["kl"]
    named = any(results) and all(
        set(LOSS_NAMES) <= set(losses)
        for result in results
        if result is not None
        for losses in [result["batch"], *result["each"]]
    )
    nan = np.full(len(ref_kl), np.nan)

    def everywhere(values: np.ndarray) -> np.ndarray:  # per-image values, the same for each beta
        return np.broadcast_to(values, (len(betas), len(values)))

    def per_image(name: str) -> np.ndarray:  # (betas, images); NaN where there is none
        return np.array(
            [
                nan if result is None else [losses.get(name, np.nan) for losses in result["each"]]
                for result in results
            ]
        )

    def batch(name: str) -> np.ndarray:  # (betas,)
        return np.array([np.nan if r is None else r["batch"].get(name, np.nan) for r in results])

    loss, reconstruction, kl = (per_image(name) for name in LOSS_NAMES)
    beta = betas[:, None]
    weighted = _close(loss, reconstruction + beta * kl)
    positive = betas > 0
    checks = {
        "returns loss, reconstruction_loss and kl_loss": named,
        "reconstruction_loss of each image: the cross-entropy summed over its pixels, unweighted": (
            _close(reconstruction, everywhere(ref_reconstruction))
        ),
        "kl_loss of each image: the closed-form KL summed over latent dimensions, unweighted": (
            _close(kl, everywhere(ref_kl))
        ),
        "loss of each image = reconstruction_loss + beta * kl_loss, for beta 0, < 1 and > 1": (
            weighted
        ),
        "on a batch, each term is the mean of its values on the images one by one": named
        and all(_close(batch(name), per_image(name).mean(axis=1)) for name in LOSS_NAMES),
    }
    fix = "loss = reconstruction_loss + self.beta * kl_loss."
    training_checks, training_mistakes = _judge_training(
        answers["training"], reference, fix, all(checks.values()), beta=float(betas[2])
    )
    checks.update(training_checks)
    return _first(
        checks,
        [
            (
                not named,
                "Return a dict with the keys 'loss', 'reconstruction_loss' and 'kl_loss', for "
                "every beta.",
            ),
            (
                _close(kl, beta * ref_kl),
                "Your kl_loss is already multiplied by beta: report the KL itself in kl_loss "
                f"(Step 5 compares it across betas) and weight it in the loss only, {fix}",
            ),
            (
                not weighted and _close(loss, beta * reconstruction + kl),
                f"You weighted the reconstruction term: beta multiplies the KL term, {fix}",
            ),
            (
                not weighted and _close(loss, reconstruction + kl),
                "Your loss ignores beta: it is the negative ELBO, reconstruction_loss + kl_loss, "
                f"whatever beta is. Weight the KL term: {fix}",
            ),
            (
                not weighted
                and _close(
                    loss[positive], (reconstruction + kl / np.where(beta > 0, beta, 1))[positive]
                ),
                "Your loss divides the KL by beta: multiply it, so that a larger beta pulls "
                f"harder towards the prior: {fix}",
            ),
            (
                not weighted and _close(loss, reconstruction) and not _close(kl, 0 * kl),
                f"Your loss leaves the KL term out: {fix}",
            ),
            (
                _close(reconstruction, everywhere(ref_reconstruction / 784)),
                "Your reconstruction loss is the mean over the pixels, 784 times too small: sum "
                "the cross-entropy over the pixels, then average over the images (Lab 03).",
            ),
            (
                _close(reconstruction, everywhere(reference["from_z_mean"])),
                "Your decoder reconstructed from z_mean: decode the sample z, as in Lab 03.",
            ),
            (
                _close(reconstruction, everywhere(reference["squared_error"])),
                "Your reconstruction loss is a squared error: the Bernoulli decoder's loss is "
                "the binary cross-entropy, summed over the pixels.",
            ),
            (
                _close(kl, everywhere(-ref_kl)),
                "Your KL has the wrong sign: it is -0.5 * sum(1 + z_log_var - z_mean^2 - "
                "exp(z_log_var)), and never negative.",
            ),
            (
                _close(kl, everywhere(ref_kl / reference["latent_dim"])),
                "Your KL is averaged over the latent dimensions: sum it over them (axis=-1), "
                "then average over the images.",
            ),
            (
                _close(kl, 0 * kl),
                "Your kl_loss is 0: compute the closed-form KL of Lab 03 from z_mean and "
                "z_log_var (or call labkit.kl_divergence).",
            ),
            (
                _close(batch("reconstruction_loss"), np.full(len(betas), ref_reconstruction.sum()))
                or _close(batch("kl_loss"), np.full(len(betas), ref_kl.sum())),
                "On a batch your losses are sums over the images: average them with ops.mean, "
                "so that they are in nats per image.",
            ),
            *training_mistakes,
        ],
        "Compute Lab 03's two terms (cross-entropy summed over the pixels, closed-form KL "
        f"summed over the latent dimensions, each averaged over the images); then {fix}",
    )
