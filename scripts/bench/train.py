"""``crosstrain bench train``: time per training step through the crossbar model vs the float step.

The same network, initial weights and mini-batches for every configuration, timed in one run
(BLAS on one thread, as ``crosstrain train`` runs): the float numpy step (forward, backward,
update in FP32) is the baseline; each system of ``crosstrain train`` is timed over ``--steps``
steps after one warm-up step, split into forward, error back-propagation and update (which for
PANTHER includes the OPAs and the CRS due in those steps). ``panther, lossless ADC`` widens the
ADC to ``lossless_adc_bits``, so that no conversion can clip whatever the data and every MVM takes
the one-matmul path of :func:`crosstrain.golden.crossbar.mvm`; with the preset's ADC each MVM
first proves that it cannot clip. Goal (issue 15): at most 10x the float step with the fast exact
paths.
"""

from __future__ import annotations

import time

import numpy as np

from crosstrain.errors import UserError
from crosstrain.experiments import train_networks
from crosstrain.experiments.trainer import FLOAT, SYSTEMS, Trainer, initial_weights, one_blas_thread
from crosstrain.experiments.training import TrainingSettings, load_digits_split
from crosstrain.golden import config
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rollup.networks import NetworkError

NAME = "train"
HELP = "time per training step through the crossbar model vs the float numpy step"
GOAL = 10.0


def add_arguments(parser):
    parser.add_argument("--network", default="digits-cnn", metavar="NAME|FILE",
                        help="a network crosstrain train accepts (default digits-cnn)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per system (default 10)")
    parser.add_argument("--batch", type=int, default=TrainingSettings.batch,
                        help=f"mini-batch (default {TrainingSettings.batch})")
    parser.add_argument("--preset", default="panther", metavar="PRESET|FILE.toml")
    parser.add_argument("--baseline-preset", default="pipelayer", metavar="PRESET|FILE.toml")
    add_json_flag(parser)


def _time_steps(trainer: Trainer, batches) -> dict:
    """Seconds per step of ``trainer`` over ``batches`` (the first one a warm-up), by phase."""
    spent = {"forward": 0.0, "backward": 0.0, "update": 0.0}
    for k, (x, y) in enumerate(batches):
        t0 = time.perf_counter()
        logits, saved = trainer.forward(x, training=True)
        t1 = time.perf_counter()
        ops = trainer.backward(saved, logits, y)
        t2 = time.perf_counter()
        trainer.update(ops, len(y))
        t3 = time.perf_counter()
        if k:
            for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2)):
                spent[key] += dt
    n = len(batches) - 1
    return {f"{k}_s": v / n for k, v in spent.items()} | {"step_s": sum(spent.values()) / n}


def run(args):
    if args.steps < 1 or args.batch < 1:
        raise UserError(f"--steps ({args.steps}) and --batch ({args.batch}) must be positive")
    try:
        net = train_networks.load(args.network)
    except NetworkError as e:
        raise UserError(str(e)) from None
    settings = TrainingSettings(batch=args.batch)
    x, y, _, _ = load_digits_split(settings)
    if (args.steps + 1) * args.batch > len(x):
        raise UserError(f"--steps {args.steps} x --batch {args.batch}: more than the {len(x)} "
                        "training samples")
    batches = [(x[k * args.batch:(k + 1) * args.batch], y[k * args.batch:(k + 1) * args.batch])
               for k in range(args.steps + 1)]
    init = initial_weights(net, np.random.default_rng(0))
    preset, baseline = config.load(args.preset), config.load(args.baseline_preset)
    lossless = preset.with_overrides({"converters.adc_bits": preset.lossless_adc_bits,
                                      "converters.adc_lsb": 1.0})
    runs = [("float (FP32 numpy)", FLOAT, None)]
    for name, system in SYSTEMS.items():
        cfg = baseline if system.hardware == "baseline" else preset
        runs.append((name, system, cfg))
        if name == "panther":
            runs.append(("panther, lossless ADC", system, lossless))
    rows, out = [], []
    with one_blas_thread() as limits:
        for label, system, cfg in runs:
            r = _time_steps(Trainer(net, system, cfg, settings, init), batches)
            r |= {"name": label, "system": system.name, "hardware": cfg.name if cfg else "float",
                  "adc_bits": cfg.converters.adc_bits if cfg else None,
                  "adc_never_clips": cfg.adc_never_clips if cfg else None}
            out.append(r)
    base = out[0]["step_s"]
    for r in out:
        r["ratio_vs_float"] = r["step_s"] / base
        r["meets_goal"] = r["ratio_vs_float"] <= GOAL
        rows.append([r["name"], r["hardware"], "-" if r["adc_bits"] is None else r["adc_bits"],
                     r["step_s"] * 1e3, r["forward_s"] * 1e3, r["backward_s"] * 1e3,
                     r["update_s"] * 1e3, f"{r['ratio_vs_float']:.2f}x",
                     "" if r is out[0] else "yes" if r["meets_goal"] else "no"])
    threads = None if limits is None else 1
    result = {"network": net.name, "batch": args.batch, "steps": args.steps, "goal_ratio": GOAL,
              "blas_threads": threads, "float_step_s": base, "systems": out}
    text = table(["configuration", "hardware", "ADC bits", "ms / step", "forward", "backward",
                  "update", "vs float", f"<= {GOAL:g}x"], rows,
                 title=f"{net.name}, batches of {args.batch}: mean of {args.steps} steps after a "
                       f"warm-up, BLAS threads {threads or 'unpinned (threadpoolctl missing)'} "
                       "(crosstrain bench train)")
    emit(args, result, text)
    return 0
