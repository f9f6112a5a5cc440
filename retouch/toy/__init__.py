"""Generative-modelling warm-ups: inverse-CDF sampling with a KL check, and a 2-D GAN.

`retouch.toy.sampling` samples a 1-D density by inverting its CDF and measures the KL divergence
between the samples' histogram and the density; `retouch.toy.gan2d` trains a small MLP GAN on a
2-D point distribution and counts the modes it covers. `docs/toy.md` walks through both.
"""

from retouch.toy.sampling import EXAMPLES, Density, kl_divergence, parse_expression

__all__ = ["EXAMPLES", "Density", "kl_divergence", "parse_expression"]
