"""Training through the crossbars: one system trains one network from one initialization.

Every system runs the same network code (:class:`Trainer`); they differ in where each phase
runs and how the weights change (:data:`SYSTEMS`):

====================  ==========  ===================  ==============================================
system                forward     error back-prop      weight gradient and update
====================  ==========  ===================  ==============================================
panther               crossbar    crossbar             OPA on the update slices, CRS every
                                                       ``crs_period`` samples (PANTHER)
digital               exact       exact                the same update without slices: an exact wide
                                                       accumulator, CRS at the same cadence
pipelayer             crossbar    crossbar             gradient by MVM through arrays holding the
                                                       errors (activations streamed); weights
                                                       rewritten every batch (PipeLayer-like)
3d-reg-conservative   crossbar    GPU FP32             GPU FP32 on master weights, written into the
                                                       arrays every batch (3D-ReG conservative)
3d-reg-aggressive     crossbar    crossbar             GPU FP32, as above (3D-ReG aggressive)
float                 FP32        FP32                 FP32 (the baseline)
====================  ==========  ===================  ==============================================

``crossbar``: :func:`crosstrain.golden.crossbar.mvm` on the weight codes (bit slices, DAC steps,
ADC rounding and clipping; its one-matmul path only where it proves that no conversion clips).
With device non-idealities on (``nonideal.program_sigma``, ``read_sigma``, ``d2d_sigma``,
``stuck_on_fraction``, ``stuck_off_fraction``) the forward and the backward copy are each a
:class:`crosstrain.golden.array.ProgrammedArray`, programmed at the start and at every weight
write; update non-idealities (``c2c_sigma``, ``ltp/ltd_nonlinearity``, ``update_levels``) act in
the OPA (:class:`crosstrain.golden.opa.UpdateArrays`). Every layer and copy draws from its own
seed, derived from ``nonideal.seed``, the training seed and the layer. ``exact``: integer
products (:func:`crosstrain.golden.crossbar.exact_matmul`).

Fixed point (see :mod:`crosstrain.experiments.training`): products are rounded back to the
activation or error format with saturation. The OPA adds ``x (x) d`` to the wide weight
(``update_slices * bits_per_cell`` bits, ``drop = wide - weight_bits`` bits below the weight's
LSB): ``x`` is the layer input (activation codes), ``d = -lr / batch * delta`` as an
``error_bits`` code whose LSB puts the product on the wide weight's LSB
(``weight_frac_bits + drop + opa_shift - activation_frac_bits`` fraction bits; codes beyond the
range saturate and are counted). A convolution does one OPA per output position.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from crosstrain.experiments.train_networks import FLAT, fan_in, matrix_shape
from crosstrain.experiments.training import (
    TrainingSettings,
    check_stored,
    he_normal,
    maxpool,
    rescale,
    unpool,
)
from crosstrain.golden import crossbar
from crosstrain.golden.windows import col2im, im2col
from crosstrain.golden.array import ProgrammedArray
from crosstrain.golden.config import ConfigError, HardwareConfig
from crosstrain.golden.encoding import to_fixed
from crosstrain.golden.events import Events
from crosstrain.golden.opa import UpdateArrays, carry_resolve
from crosstrain.rollup.networks import Network

DEVICE_FIELDS = ("program_sigma", "read_sigma", "d2d_sigma", "stuck_on_fraction", "stuck_off_fraction")
UPDATE_FIELDS = ("c2c_sigma", "ltp_nonlinearity", "ltd_nonlinearity", "update_levels")


@dataclass(frozen=True)
class System:
    """Where each phase runs ("crossbar", "exact" or "float") and how weights change."""

    name: str
    forward: str
    backward: str
    update: str           # "opa", "wide", "rewrite" or "float"
    hardware: str         # which configuration: "preset", "baseline" or "" (float)
    rollup: str           # the system's key in `crosstrain estimate`'s accuracy-drop table
    description: str


FLOAT = System("float", "float", "float", "float", "", "", "FP32 numpy: the baseline")
SYSTEMS = {s.name: s for s in (
    System("panther", "crossbar", "crossbar", "opa", "preset", "panther",
           "PANTHER: MVMs through the crossbars, OPA on saturating update slices, CRS"),
    System("digital", "exact", "exact", "wide", "preset", "digital",
           "the same fixed point, every product exact, exact wide update at the same CRS cadence"),
    System("pipelayer", "crossbar", "crossbar", "rewrite", "baseline", "pipelayer",
           "PipeLayer-like: gradient by MVM through the stored errors, weights rewritten"),
    System("3d-reg-conservative", "crossbar", "float", "float", "preset", "conservative",
           "3D-ReG conservative: forward on the crossbars, backward and update on the GPU (FP32)"),
    System("3d-reg-aggressive", "crossbar", "crossbar", "float", "preset", "aggressive",
           "3D-ReG aggressive: forward and backward on the crossbars, gradient and update on the GPU"),
)}


def device_on(cfg: HardwareConfig) -> bool:
    """True when stored conductances differ from their targets (programming, reads, devices)."""
    return any(getattr(cfg.nonideal, f) for f in DEVICE_FIELDS)


def opa_error_scale(cfg: HardwareConfig, s: TrainingSettings) -> float:
    """Factor from error codes to OPA column codes (see the module docstring)."""
    p = cfg.precision
    drop = p.update_slices * cfg.device.bits_per_cell - p.weight_bits
    frac_d = p.weight_frac_bits + drop + p.opa_shift - s.activation_frac_bits
    return -s.learning_rate / s.batch * 2.0 ** (frac_d - s.error_frac_bits)


@dataclass
class Counters:
    """What a run counts besides the MVM events."""

    opa_cell_updates: int = 0                        # cells x OPAs (the saturation fraction's base)
    error_codes: int = 0                             # scaled error codes sent to OPAs
    error_clipped: int = 0                           # of those, saturated at error_bits
    crs_rounds: int = 0                              # carry resolutions (every layer each time)


class Trainer:
    """One system training one network.

    Parameters
    ----------
    net : Network
        A chain that fits the digits (:func:`crosstrain.experiments.train_networks.check`).
    system : System
    cfg : HardwareConfig or None
        The hardware (None only for the float system).
    settings : TrainingSettings
    init : list of float arrays
        Initial weights (one matrix per weight layer); fixed-point systems round them to codes.
    hooks : object, optional
        ``write(phase, layer, matrix) -> matrix`` sees every matrix the PipeLayer-like flow
        writes into arrays (``activations``, ``errors``, ``updates``) and returns what the
        arrays hold; ``gradient(layer, stored_shape, n_vec)`` is told of each gradient MVM.
    """

    def __init__(self, net: Network, system: System, cfg: HardwareConfig | None,
                 settings: TrainingSettings, init, *, hooks=None):
        self.net, self.sys, self.s, self.cfg, self.hooks = net, system, settings, cfg, hooks
        weight_idx = [i for i, layer in enumerate(net.layers) if layer.has_weights]
        self.relu = [layer.has_weights and i != weight_idx[-1] for i, layer in enumerate(net.layers)]
        c, h, w = net.input_shape
        self.image_shape = (1, 1, c * h * w) if net.input_shape == FLAT else (h, w, c)
        self.events = {"forward": Events(), "backward": Events(), "gradient": Events()}
        self.vectors: dict = {}
        self.counters = Counters()
        self.since_crs = 0
        settings.check(None if system.forward == "float" else cfg)
        uses_float = "float" in (system.forward, system.backward, system.update)
        self.wf = [np.asarray(m, dtype=np.float32) for m in init] if uses_float else None
        if system.forward == "float":
            return
        if cfg is None:
            raise ValueError(f"system {system.name} needs a hardware configuration")
        if system.update == "rewrite":
            check_stored(cfg)
        p = cfg.precision
        self.w = [to_fixed(m, p.weight_bits, p.weight_frac_bits) for m in init]
        self.copies, self.error_arrays = None, {}
        if device_on(cfg) and system.forward == "crossbar":
            self.copies = [(ProgrammedArray(self._layer_cfg(j, 0), w),
                            ProgrammedArray(self._layer_cfg(j, 1), w)
                            if system.backward == "crossbar" else None)
                           for j, w in enumerate(self.w)]
        if system.update == "opa":
            self.slices = [UpdateArrays(self._layer_cfg(j, 2), w) for j, w in enumerate(self.w)]
        if system.update == "wide":
            self.extra = (p.update_slices * cfg.device.bits_per_cell - p.weight_bits + p.opa_shift)
            self.wide = [w << self.extra for w in self.w]

    def _layer_cfg(self, j: int, copy: int) -> HardwareConfig:
        n = self.cfg.nonideal
        if not any(getattr(n, f) for f in DEVICE_FIELDS + UPDATE_FIELDS):
            return self.cfg
        seq = np.random.SeedSequence([n.seed % (1 << 32), self.s.seed, j, copy])
        return self.cfg.with_overrides({"nonideal.seed": int(seq.generate_state(1)[0])})

    # ---- one step ------------------------------------------------------------------------------
    def step(self, images: np.ndarray, labels: np.ndarray) -> None:
        logits, saved = self.forward(images, training=True)
        ops = self.backward(saved, logits, labels)
        self.update(ops, len(labels))

    def predict(self, images: np.ndarray) -> np.ndarray:
        logits, _ = self.forward(images, training=False)
        return logits.argmax(axis=1)

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(self.predict(images) == labels))

    def forward(self, images, *, training: bool):
        """Logits and, per layer, what the backward pass needs: the weight layers' input matrix
        (as the arrays hold it), pre-activation and input shape; the pools' winners."""
        fixed = self.sys.forward != "float"
        a = np.asarray(images).reshape((len(images),) + self.image_shape)
        a = to_fixed(a, self.cfg.precision.input_bits, self.s.activation_frac_bits) if fixed \
            else a.astype(np.float32)
        events = self.events["forward"] if training else Events()
        saved, j = [], 0
        for layer, relu in zip(self.net.layers, self.relu):
            if layer.kind == "pool":
                a, pooling = maxpool(a, layer.kernel, layer.stride, layer.padding)
                saved.append(pooling)
                continue
            n, geo = len(a), (layer.kernel, layer.stride, layer.padding)
            x = im2col(a, *geo) if layer.kind == "conv" else \
                a.reshape(-1, a.shape[-1]) if layer.kind == "tconv" else a.reshape(n, -1)
            if training:
                self.vectors[("forward", layer.name)] = (len(x), matrix_shape(layer))
            y = self._mvm(j, x, events)
            if layer.kind == "tconv":
                y = col2im(y, (n, layer.out_h, layer.out_w, layer.out_ch), *geo)
            z = rescale(y, self.cfg.precision.weight_frac_bits, self.cfg.precision.input_bits) \
                if fixed else y
            if layer.kind != "fc":
                z = z.reshape(n, layer.out_h, layer.out_w, layer.out_ch)
            if training:
                saved.append((self._stored_input(layer, a, x), z, a.shape))
            a = np.maximum(z, 0) if relu else z
            j += 1
        return a.reshape(len(a), -1), saved

    def _stored_input(self, layer, a, x):
        """The layer input as the gradient sees it: what the arrays hold after the hooks."""
        if self.hooks is None:
            return x
        if layer.kind == "conv":
            seen = self.hooks.write("activations", layer.name, a.reshape(-1, a.shape[-1]))
            return im2col(seen.reshape(a.shape), layer.kernel, layer.stride, layer.padding)
        return self.hooks.write("activations", layer.name, x)

    def backward(self, saved, logits, labels) -> list:
        """``(j, X, D)`` for each weight layer ``j`` (last first): its input matrix and its
        output error matrix (codes or floats), what the update needs."""
        fixed = self.sys.backward != "float"
        delta = self._output_error(logits, labels, fixed)
        ops = []
        j = len(self.net.weight_layers) - 1
        for i in reversed(range(len(self.net.layers))):
            layer = self.net.layers[i]
            if layer.kind == "pool":
                delta = unpool(delta.reshape(len(delta), layer.out_h, layer.out_w, layer.out_ch),
                               saved[i])
                continue
            x_mat, z, in_shape = saved[i]
            delta = delta.reshape(z.shape)
            if self.relu[i]:
                delta = delta * (z > 0)
            geo = (layer.kernel, layer.stride, layer.padding)
            d = delta.reshape(-1, layer.out_ch) if layer.kind == "conv" else \
                im2col(delta, *geo) if layer.kind == "tconv" else delta
            stored = self.hooks.write("errors", layer.name, d) if self.hooks else d
            ops.append((j, x_mat, stored))
            if j == 0:
                break
            self.vectors[("backward", layer.name)] = (len(d), matrix_shape(layer))
            back = self._mvm(j, d, self.events["backward"], transposed=True)
            if layer.kind == "conv":
                back = col2im(back, in_shape, *geo)
            if fixed:
                back = rescale(back, self.cfg.precision.weight_frac_bits, self.cfg.precision.error_bits)
            delta = back.reshape(in_shape)
            j -= 1
        return ops

    def _output_error(self, logits, labels, fixed: bool):
        """Softmax cross-entropy error: codes (fixed back-propagation) or FP32."""
        z = logits / 2.0 ** self.s.activation_frac_bits if self.sys.forward != "float" else logits
        z = np.asarray(z, dtype=np.float64 if fixed else np.float32)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1.0
        return to_fixed(p, self.cfg.precision.error_bits, self.s.error_frac_bits) if fixed else p

    def _mvm(self, j: int, x, events: Events, *, transposed: bool = False):
        mode = self.sys.backward if transposed else self.sys.forward
        if mode == "float":
            return x @ (self.wf[j].T if transposed else self.wf[j])
        w = self.w[j]
        if mode == "exact":
            p = self.cfg.precision
            bits = p.error_bits if transposed else p.input_bits
            bound = 2.0 ** (bits + p.weight_bits - 2) * x.shape[1]
            return crossbar.exact_matmul(x, w.T if transposed else w, bound)
        if self.copies is not None:
            return self.copies[j][transposed].mvm(x, transposed=transposed, events=events)
        return crossbar.mvm(w, x, self.cfg, transposed=transposed, events=events)

    # ---- updates -------------------------------------------------------------------------------
    def update(self, ops: list, n: int) -> None:
        u = self.sys.update
        if u in ("opa", "wide"):
            self._accumulate(ops, n)
            return
        for j, x, d in reversed(ops):          # first layer first
            if u == "float":
                self._float_update(j, x, d)
            else:
                self._rewrite(j, x, d)

    def _float_update(self, j, x, d) -> None:
        s = self.s
        if self.sys.forward != "float":
            x = x * np.float32(2.0 ** -s.activation_frac_bits)
        if self.sys.backward != "float":
            d = d * np.float32(2.0 ** -s.error_frac_bits)
        g = np.asarray(x, np.float32).T @ np.asarray(d, np.float32)
        self.wf[j] -= np.float32(s.learning_rate / s.batch) * g
        if self.sys.forward != "float":
            p = self.cfg.precision
            self._write(j, to_fixed(self.wf[j], p.weight_bits, p.weight_frac_bits))

    def _rewrite(self, j, x, d) -> None:
        """PipeLayer-like: ``dW = X^T delta`` through the arrays holding delta, then new weights."""
        p, s, name = self.cfg.precision, self.s, self.net.weight_layers[j].name
        self.vectors[("gradient", name)] = (x.shape[1], d.shape)
        events = self.events["gradient"]
        if self.copies is not None:
            if j in self.error_arrays:
                self.error_arrays[j].program(d)
            else:
                self.error_arrays[j] = ProgrammedArray(self._layer_cfg(j, 3), d)
            g = self.error_arrays[j].mvm(x.T, events=events)
        else:
            g = crossbar.mvm(d, x.T, self.cfg, events=events)
        if self.hooks:
            self.hooks.gradient(name, d.shape, x.shape[1])
        scale = -s.learning_rate / s.batch * 2.0 ** (
            p.weight_frac_bits - s.activation_frac_bits - s.error_frac_bits)
        top = (1 << (p.weight_bits - 1)) - 1
        new = np.clip(self.w[j] + np.rint(g * scale).astype(np.int64), -top - 1, top)
        self._write(j, self.hooks.write("updates", name, new) if self.hooks else new)

    def _write(self, j: int, w: np.ndarray) -> None:
        self.w[j] = w
        for copy in self.copies[j] if self.copies is not None else ():
            if copy is not None:
                copy.program(w)

    def _accumulate(self, ops: list, n: int) -> None:
        """OPAs (or the exact wide update) of ``n`` samples in order, with a CRS each time
        ``crs_period`` samples have been accumulated. The update slices saturate after each
        pulse train: one OPA (``opa = "vector"``), one sample's OPAs (``"sample"``: a convolution
        does one per output position) or the whole mini-batch's (``"batch"``; its CRS waits for
        the end of the batch)."""
        p, b = self.cfg.precision, self.s
        scale = opa_error_scale(self.cfg, b)
        lo, hi = -(1 << (p.error_bits - 1)), (1 << (p.error_bits - 1)) - 1
        parts = []
        for j, x, d in ops:
            raw = np.rint(d * scale)
            self.counters.error_codes += raw.size
            self.counters.error_clipped += int(np.count_nonzero((raw < lo) | (raw > hi)))
            parts.append((j, x, np.clip(raw, lo, hi).astype(np.int64), len(x) // n))
        start = 0
        while start < n:
            take = n - start if b.opa == "batch" else min(n - start, b.crs_period - self.since_crs)
            for j, x, d, per in parts:
                rows = slice(start * per, (start + take) * per)
                if self.sys.update == "opa":
                    group = {"vector": 1, "sample": per, "batch": take * per}[b.opa]
                    self.slices[j].opa(x[rows], d[rows], group=group)
                    self.counters.opa_cell_updates += (take * per) * self.slices[j].cells.size
                else:
                    bound = 2.0 ** (p.input_bits + p.error_bits - 2) * take * per
                    self.wide[j] += crossbar.exact_matmul(x[rows].T, d[rows], bound)
            self.since_crs += take
            start += take
            if self.since_crs >= b.crs_period:
                self._crs()

    def _crs(self) -> None:
        p = self.cfg.precision
        for j in range(len(self.w)):
            if self.sys.update == "opa":
                w = self.slices[j].crs()
            else:
                wide_bits = p.update_slices * self.cfg.device.bits_per_cell + p.opa_shift
                self.wide[j], w = carry_resolve(self.wide[j], wide_bits, self.extra, p.weight_bits)
            self._write(j, w)
        self.since_crs = 0
        self.counters.crs_rounds += 1

    def update_events(self) -> Events:
        """OPA and CRS events of every layer's update slices (empty for other updates)."""
        total = Events()
        for u in getattr(self, "slices", ()):
            total += u.events
        return total


@dataclass
class RunResult:
    """One system, one seed: test accuracy after each epoch and what the run counted."""

    system: str
    seed: int
    epoch_accuracy: list
    steps: int
    events: dict                 # MVM events by kind: forward, backward, gradient
    update: Events               # OPA / CRS events of the update slices
    counters: Counters
    seconds: float
    vectors: dict = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.epoch_accuracy[-1]


def initial_weights(net: Network, rng: np.random.Generator) -> list:
    """He-normal float matrices of the weight layers, drawn in layer order."""
    layers = net.weight_layers
    return he_normal([matrix_shape(l) for l in layers], [fan_in(l) for l in layers], rng)


def one_blas_thread():
    """A context in which BLAS runs on one thread (threadpoolctl, when installed): the GEMMs here
    are small, and BLAS threads cost more than they save, most of all on a busy machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def fit(net: Network, system: System, cfg: HardwareConfig | None, settings: TrainingSettings,
        data, *, hooks=None, progress=None) -> RunResult:
    """Train ``net`` on ``data`` (train images, labels, test images, labels) for
    ``settings.epochs``: initial weights, then each epoch's sample order, all drawn from one
    generator seeded with ``settings.seed`` (so every system sees the same ones); batches
    of ``settings.batch``, the last partial batch of an epoch dropped. ``progress()`` is called
    after every step."""
    settings.check()
    started = time.perf_counter()
    x_train, y_train, x_test, y_test = data
    if settings.batch > len(x_train):
        raise ConfigError(f"training batch = {settings.batch} is not allowed: at most the "
                          f"{len(x_train)} training samples")
    rng = np.random.default_rng(settings.seed)
    trainer = Trainer(net, system, cfg, settings, initial_weights(net, rng), hooks=hooks)
    n_batches = len(x_train) // settings.batch
    per_epoch = []
    with one_blas_thread():
        for _ in range(settings.epochs):
            order = rng.permutation(len(x_train))
            for b in range(n_batches):
                idx = order[b * settings.batch:(b + 1) * settings.batch]
                trainer.step(x_train[idx], y_train[idx])
                if progress:
                    progress()
            per_epoch.append(trainer.accuracy(x_test, y_test))
    return RunResult(system=system.name, seed=settings.seed, epoch_accuracy=per_epoch,
                     steps=n_batches * settings.epochs, events=trainer.events,
                     update=trainer.update_events(), counters=trainer.counters,
                     seconds=time.perf_counter() - started, vectors=trainer.vectors)
