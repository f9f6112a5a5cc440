"""Inverse-CDF sampling of a 1-D density, and the KL divergence that checks it.

The warm-up idea of generative modelling: a uniform number ``u`` pushed through the inverse of a
cumulative distribution function ``F`` is distributed with density ``f = F'``. Here ``f`` is any
non-negative function on an interval ``[lo, hi]``, given as a Python callable, as a safely parsed
expression in ``x`` (``"exp(-x**2/2) * (1 + sin(3*x)**2)"``) or by name (``"piecewise"``, the
article's example). It need not be normalised: the class integrates it numerically.

How it works (`Density`):

1. evaluate ``f`` on a fine uniform grid of ``grid`` points (default 20,001) over ``[lo, hi]``;
2. integrate with the trapezoid rule into a CDF and divide by the total mass, so ``F(hi) = 1``;
3. invert ``F`` by linear interpolation: for ``u ~ U(0, 1)`` find the grid cell whose CDF values
   bracket ``u`` (``searchsorted``) and interpolate inside it. Flat stretches of ``F`` (where
   ``f = 0``) are never chosen, so no sample lands where the density is zero, up to one grid
   cell ``(hi - lo) / (grid - 1)`` beside a jump, which the trapezoid rule spreads over a cell.

The check (`kl_divergence`) compares a histogram of samples with the density, bin by bin; see
its docstring for the direction, the binning and what a perfect sampler scores.
"""

from __future__ import annotations

import ast
import math
import operator
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retouch.errors import RetouchError

__all__ = [
    "EXAMPLES",
    "Density",
    "agg_figure",
    "atomic_write",
    "kl_divergence",
    "kl_floor",
    "parse_expression",
    "plot_density_histogram",
]

# ---------------------------------------------------------------------------------------------
# Safe expressions: a whitelisted AST evaluated by a small tree walker (never eval/compile).

_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "exp": np.exp,
    "log": np.log,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "tanh": np.tanh,
    "arctan": np.arctan,
    "cosh": np.cosh,
    "sinh": np.sinh,
    "floor": np.floor,
    "ceil": np.ceil,
    "sign": np.sign,
    "where": np.where,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "clip": np.clip,
}
_ARITY = {"where": 3, "clip": 3, "minimum": 2, "maximum": 2}  # the others take one argument
_CONSTANTS = {"pi": math.pi, "e": math.e}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
    ast.BitAnd: np.logical_and,  # (x > 0) & (x < 1)
    ast.BitOr: np.logical_or,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: np.logical_not}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_MAX_EXPRESSION_CHARS = 1000
_HELP = (
    "use x, numbers, pi, e, + - * / ** %, comparisons, & |, and the functions "
    + ", ".join(sorted(_FUNCTIONS))
)


def parse_expression(text: str) -> Callable[[np.ndarray], np.ndarray]:
    """Turn ``text`` (an expression in ``x``) into a vectorised function, safely.

    The text is parsed with `ast` and every node is checked against a whitelist: the name ``x``,
    the constants ``pi`` and ``e``, int/float literals, arithmetic (``+ - * / ** %``), comparisons
    (also chained, ``0 < x < 1``), ``&``/``|``/``~`` on comparisons, and calls of the numpy
    functions in ``_FUNCTIONS`` (``where`` for piecewise definitions). Nothing is passed to
    `eval`; the checked tree is evaluated by `_evaluate`. Attribute access, subscripts, lambdas,
    keyword arguments, strings, other names: all refused with a `RetouchError`.
    """
    if not isinstance(text, str) or not text.strip():
        raise RetouchError("The density expression is empty: write one in x, e.g. 'exp(-x**2)'.")
    if len(text) > _MAX_EXPRESSION_CHARS:
        raise RetouchError(
            f"The density expression is longer than {_MAX_EXPRESSION_CHARS} characters: "
            "shorten it."
        )
    too_deep = RetouchError("The density expression is nested too deeply: simplify it.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        _check(tree.body, text)
    except SyntaxError as e:
        raise RetouchError(
            f"The density expression {text!r} is not valid syntax ({e.msg}): {_HELP}."
        ) from None
    except (RecursionError, MemoryError):
        raise too_deep from None
    body = tree.body

    def f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        try:
            with np.errstate(all="ignore"):
                y = _evaluate(body, x)
        except RecursionError:
            raise too_deep from None
        return np.broadcast_to(np.asarray(y, dtype=np.float64), x.shape).copy()

    return f


def _refuse(node: ast.AST, text: str, what: str) -> RetouchError:
    snippet = ast.get_source_segment(text.strip(), node) or type(node).__name__
    return RetouchError(f"The density expression may not contain {what} ({snippet!r}): {_HELP}.")


def _check(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _refuse(node, text, "this literal")
    elif isinstance(node, ast.Name):
        if node.id != "x" and node.id not in _CONSTANTS:
            raise _refuse(node, text, f"the name {node.id!r}")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise _refuse(node, text, "this operator")
        _check(node.left, text)
        _check(node.right, text)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise _refuse(node, text, "this operator")
        _check(node.operand, text)
    elif isinstance(node, ast.Compare):
        if any(type(op) not in _COMPARE for op in node.ops):
            raise _refuse(node, text, "this comparison")
        for child in (node.left, *node.comparators):
            _check(child, text)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise _refuse(node.func, text, "a call of anything but the listed functions")
        if node.keywords:
            raise _refuse(node, text, "keyword arguments")
        arity = _ARITY.get(node.func.id, 1)
        if len(node.args) != arity:
            raise RetouchError(
                f"{node.func.id}() in the density expression takes {arity} argument"
                f"{'s' if arity > 1 else ''}, not {len(node.args)}: fix the call "
                f"{ast.get_source_segment(text.strip(), node)!r}."
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _refuse(arg, text, "starred arguments")
            _check(arg, text)
    else:
        raise _refuse(node, text, "this construct")


def _evaluate(node: ast.AST, x: np.ndarray):
    if isinstance(node, ast.Constant):
        return np.float64(node.value)  # floats: 9**9**9 overflows to inf instead of hanging
    if isinstance(node, ast.Name):
        return x if node.id == "x" else np.float64(_CONSTANTS[node.id])
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, x), _evaluate(node.right, x))
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, x)
        if isinstance(node.op, ast.Invert):
            return np.logical_not(operand)
        return _UNARY[type(node.op)](operand)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, x)
        result = None
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, x)
            part = _COMPARE[type(op)](left, right)
            result = part if result is None else np.logical_and(result, part)
            left = right
        return result
    if isinstance(node, ast.Call):
        return _FUNCTIONS[node.func.id](*(_evaluate(a, x) for a in node.args))
    raise AssertionError(f"unchecked node {type(node).__name__}")  # _check refuses these


# ---------------------------------------------------------------------------------------------
# Named examples


@dataclass(frozen=True)
class Example:
    """A named density: an expression on an interval, with a sentence on why it is there."""

    expression: str
    lo: float
    hi: float
    about: str


EXAMPLES: dict[str, Example] = {
    # The article's piecewise density: a ramp up, a plateau, a gap where the density is zero
    # (the CDF is flat there and inverse-CDF sampling must jump over it), and a decaying tail.
    "piecewise": Example(
        expression=(
            "where(x < 1, x, where(x < 2, 1.0, where(x < 3, 0.0, 2 * exp(-2 * (x - 3)))))"
        ),
        lo=0.0,
        hi=5.0,
        about="ramp on [0,1), plateau on [1,2), zero on [2,3), exponential tail on [3,5]",
    ),
    "bimodal": Example(
        expression="exp(-(x + 1.5)**2 / 0.5) + 0.5 * exp(-(x - 1.5)**2 / 0.2)",
        lo=-4.0,
        hi=4.0,
        about="two Gaussian bumps of different weight and width",
    ),
    "triangle": Example(
        expression="1 - abs(x)",
        lo=-1.0,
        hi=1.0,
        about="the triangle density, whose inverse CDF is known in closed form",
    ),
}


# ---------------------------------------------------------------------------------------------
# The density and its sampler


@dataclass
class Density:
    """A non-negative function on ``[lo, hi]``, normalised numerically, sampled by inverse CDF.

    Build one with `Density.from_expression`, `Density.named` or directly from a callable. Raises
    `RetouchError` when the function is negative or not finite anywhere on the grid, or when its
    total mass is zero.
    """

    fn: Callable[[np.ndarray], np.ndarray]
    lo: float
    hi: float
    grid: int = 20_001
    name: str = "density"
    xs: np.ndarray = field(init=False, repr=False)
    cdf_values: np.ndarray = field(init=False, repr=False)
    mass: float = field(init=False)

    def __post_init__(self) -> None:
        lo, hi = float(self.lo), float(self.hi)
        if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
            raise RetouchError(
                f"The interval [{self.lo}, {self.hi}] is empty or infinite: pass finite bounds "
                "with lo < hi."
            )
        if self.grid < 3:
            raise RetouchError("The grid needs at least 3 points: pass a larger grid.")
        self.lo, self.hi = lo, hi
        xs = np.linspace(lo, hi, int(self.grid))
        ys = np.asarray(self.fn(xs), dtype=np.float64)
        ys = np.broadcast_to(ys, xs.shape)
        bad = ~np.isfinite(ys)
        if bad.any():
            raise RetouchError(
                f"The density {self.name} is not finite at x = {xs[bad][0]:.4g} (nan or inf): "
                "change the expression or the interval so it is finite everywhere on it."
            )
        if (ys < 0).any():
            where_neg = xs[ys < 0][0]
            raise RetouchError(
                f"The density {self.name} is negative at x = {where_neg:.4g} "
                f"(value {ys[ys < 0][0]:.4g}): a density must be >= 0 on the whole interval; "
                "use abs(...) or where(...) or a narrower interval."
            )
        steps = np.diff(xs)
        cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (ys[1:] + ys[:-1]) * steps)])
        mass = float(cumulative[-1])
        if not mass > 0:
            raise RetouchError(
                f"The density {self.name} has zero mass on [{lo}, {hi}]: make it positive "
                "somewhere on the interval."
            )
        self.xs = xs
        self.cdf_values = cumulative / mass
        self.cdf_values[-1] = 1.0
        self.mass = mass

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_expression(
        cls, expression: str, lo: float, hi: float, *, grid: int = 20_001
    ) -> Density:
        """A density from a safely parsed expression in ``x`` (see `parse_expression`)."""
        return cls(parse_expression(expression), lo, hi, grid=grid, name=repr(expression))

    @classmethod
    def named(
        cls, name: str, lo: float | None = None, hi: float | None = None, *, grid: int = 20_001
    ) -> Density:
        """One of `EXAMPLES` (optionally on another interval)."""
        if name not in EXAMPLES:
            raise RetouchError(
                f"There is no example density {name!r}: pick one of {', '.join(EXAMPLES)} "
                "or write an expression in x."
            )
        ex = EXAMPLES[name]
        lo = ex.lo if lo is None else lo
        hi = ex.hi if hi is None else hi
        return cls(parse_expression(ex.expression), lo, hi, grid=grid, name=name)

    @classmethod
    def parse(
        cls, spec: str, lo: float | None = None, hi: float | None = None, *, grid: int = 20_001
    ) -> Density:
        """A named example when ``spec`` is one, otherwise an expression (needs ``lo``, ``hi``)."""
        if spec in EXAMPLES:
            return cls.named(spec, lo, hi, grid=grid)
        if lo is None or hi is None:
            raise RetouchError(
                f"The expression {spec!r} needs an interval: pass both --lo and --hi "
                f"(or use a named example: {', '.join(EXAMPLES)})."
            )
        return cls.from_expression(spec, lo, hi, grid=grid)

    # -- the distribution --------------------------------------------------------------------

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """The normalised density (0 outside ``[lo, hi]``)."""
        x = np.asarray(x, dtype=np.float64)
        inside = (x >= self.lo) & (x <= self.hi)
        with np.errstate(all="ignore"):
            y = np.broadcast_to(np.asarray(self.fn(x), dtype=np.float64), x.shape) / self.mass
        return np.where(inside, y, 0.0)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The numerical CDF, linear between grid points (0 below ``lo``, 1 above ``hi``)."""
        return np.interp(x, self.xs, self.cdf_values, left=0.0, right=1.0)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """The inverse CDF ``F^-1(u)`` for ``u`` in [0, 1], linear inside each grid cell.

        The cell is the one with ``F(x_i) <= u < F(x_{i+1})``; it always has positive mass, so
        the division is safe and flat parts of ``F`` (zero density) are skipped.
        """
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        c = self.cdf_values
        i = np.searchsorted(c, u, side="right")
        i = np.clip(i, 1, len(c) - 1)
        # u == 1 falls past the end; step back to the last cell with positive mass.
        last = int(np.flatnonzero(np.diff(c) > 0)[-1]) + 1
        i = np.minimum(i, last)
        c0, c1 = c[i - 1], c[i]
        t = (u - c0) / (c1 - c0)
        return self.xs[i - 1] + np.clip(t, 0.0, 1.0) * (self.xs[i] - self.xs[i - 1])

    def sample(self, n: int, seed: int | None = 0) -> np.ndarray:
        """``n`` samples: uniform numbers from ``numpy.random.default_rng(seed)`` through `ppf`."""
        if n < 1:
            raise RetouchError(f"Cannot draw {n} samples: ask for at least 1.")
        u = np.random.default_rng(seed).random(int(n))
        return self.ppf(u)

    def bin_probabilities(self, edges: np.ndarray) -> np.ndarray:
        """The probability mass of each bin ``[edges[k], edges[k+1])`` under the density."""
        return np.diff(self.cdf(np.asarray(edges, dtype=np.float64)))


# ---------------------------------------------------------------------------------------------
# Checking samples against the density


def kl_divergence(samples: np.ndarray, density: Density, bins: int = 50) -> float:
    """``KL(P_hist || P_density)`` in nats, on ``bins`` equal-width bins over ``[lo, hi]``.

    ``P_hist[k]`` is the share of samples in bin ``k``; ``P_density[k]`` is the exact mass of the
    density in the same bin (a difference of CDF values, not the density at the bin centre, so
    coarse bins are not penalised). The sum runs over bins that received samples:

        KL = sum_k P_hist[k] * log(P_hist[k] / P_density[k])

    This direction, data (the histogram) against model (the density), is the one that maximum
    likelihood minimises; it is infinite when a sample falls where the density has no mass,
    which is exactly the failure an inverse-CDF sampler must not have. Samples outside
    ``[lo, hi]`` count as such a failure too.

    A perfect sampler does not score 0: with ``n`` samples and ``B`` bins of positive mass the
    histogram's noise alone gives ``E[KL] ~ (B - 1) / (2 n)`` (see `kl_floor`), 0.00245 for the
    defaults at 10,000 samples.
    """
    samples = np.asarray(samples, dtype=np.float64).ravel()
    if samples.size == 0:
        raise RetouchError("There are no samples to compare: draw at least one.")
    if bins < 1:
        raise RetouchError(f"Cannot histogram into {bins} bins: use at least 1.")
    if ((samples < density.lo) | (samples > density.hi)).any():
        return math.inf
    edges = np.linspace(density.lo, density.hi, int(bins) + 1)
    counts, _ = np.histogram(samples, bins=edges)
    p = counts / samples.size
    q = density.bin_probabilities(edges)
    used = p > 0
    if (q[used] <= 0).any():
        return math.inf
    return float(np.sum(p[used] * np.log(p[used] / q[used])))


def kl_floor(density: Density, n: int, bins: int = 50) -> float:
    """The KL a perfect sampler is expected to score: ``(B - 1) / (2 n)``, B = bins with mass."""
    edges = np.linspace(density.lo, density.hi, int(bins) + 1)
    b = int((density.bin_probabilities(edges) > 0).sum())
    return (b - 1) / (2 * n)


def plot_density_histogram(
    density: Density,
    samples: np.ndarray,
    path,
    *,
    bins: int = 50,
    kl: float | None = None,
) -> None:
    """A PNG of the density (line) beside a normalised histogram of the samples (bars).

    Two panels: the density over the histogram on the left, the CDF and the samples' empirical CDF
    on the right. Written atomically.
    """
    fig = agg_figure(figsize=(10, 4), dpi=100)
    ax, ax_cdf = fig.subplots(1, 2)
    edges = np.linspace(density.lo, density.hi, int(bins) + 1)
    ax.hist(samples, bins=edges, density=True, color="#9ecae1", edgecolor="white", label="samples")
    xs = np.linspace(density.lo, density.hi, 2000)
    ax.plot(xs, density.pdf(xs), color="#d62728", lw=2, label="density")
    title = f"{density.name}: {len(samples):,} samples"
    if kl is not None:
        title += f", KL = {kl:.4f}"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x")
    ax.legend(frameon=False)
    ax_cdf.plot(xs, density.cdf(xs), color="#d62728", lw=2, label="CDF F(x)")
    srt = np.sort(samples)
    ax_cdf.step(srt, np.arange(1, len(srt) + 1) / len(srt), where="post", color="#3182bd",
                lw=1, label="empirical CDF")
    ax_cdf.set_title("x = F⁻¹(u), u ~ U(0, 1)", fontsize=10)
    ax_cdf.set_xlabel("x")
    ax_cdf.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


# ---------------------------------------------------------------------------------------------
# Small output helpers shared with gan2d


def agg_figure(**kwargs):
    """A matplotlib `Figure` on its own Agg canvas: no pyplot, no global backend switch."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is installed where the toy runs
        raise RetouchError(
            "Plotting needs matplotlib, which is not installed: pip install matplotlib."
        ) from None
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    Creates missing parent folders; a failed write leaves nothing behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RetouchError(
            f"Cannot create the folder {path.parent} ({e}): pick another output."
        ) from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
