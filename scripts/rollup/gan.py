"""One GAN training iteration (the workload of ZARA, EMAT and RED) on every compared system.

An iteration of a mini-batch of B samples is seven passes (:data:`PASSES`), as PyTorch's DCGAN
example trains (reference sheet sections 4 and 7):

==============  ==============  =======  ==========================================================
pass            model           samples  phases
==============  ==============  =======  ==========================================================
g-forward       generator       B        forward (+ writes: the activations its gradient needs)
d-forward       discriminator   2B       forward on the real and on the generated batch (+ writes)
d-backward      discriminator   2B       error back-propagation and weight gradient
d-update        discriminator   2B       weight update (+ CRS, charged per sample)
g-through-d     discriminator   B        forward on G(z) with the updated D, and the error back
                                         through every D layer into G; D's gradient is not taken
                                         and D's weights are not updated
g-backward      generator       B        error back-propagation and weight gradient
g-update        generator       B        weight update (+ CRS)
==============  ==============  =======  ==========================================================

No second cost model: every pass is the system's own training-iteration model of one network
(:func:`crosstrain.rollup.estimate.system_cost`: mapper + cost for the crossbar systems, the
roofline for the GPU, 3D-ReG's split) run on the generator or the discriminator at B or 2B
samples, keeping only the pass's phases. The crossbar systems hold both models at once: the
generator's arrays and the discriminator's, the latter with a backward copy in its first layer too
(the error into G needs it); the D step (d-backward) leaves that layer's backward out. Per pass:

- crossbar systems (PipeLayer-like, PANTHER, its baselines): the mapped network with the other
  phases' work removed, through :func:`crosstrain.rollup.cost.reram_cost` (so the pass's time is
  its own pipelined passes, exactly); leakage of both models' arrays over the iteration;
- GPU (and the GPU on other memories): the pass's kernels; time adds up, kernel by kernel;
- 3D-ReG: the pass's phases of its split, and the parts of its critical path that hold them
  (forward; backward with gradient; update). [assumption] g-through-d therefore charges the
  backward part, in which the GPU computes a D gradient that the pass does not need (an upper
  bound); link energy is charged by the traffic of the pass's phases (activations with forward,
  errors with backward, weights with update); leakage and GPU idle power at each pass's own rate.

Schedules (``--set mapper.gan_schedule=serial|pipelined``):

``serial``     the passes one after another, each as the system schedules one network.
``pipelined``  EMAT's pipelined training (ICCAD 2018 abstract: "an efficient pipelined training
               procedure to reduce on-chip memory access"; ReGAN, ASP-DAC 2018: layer-wise
               pipelined GAN training). [assumption] Its stages are not public; modelled here:
               between two weight updates the passes form one layer pipeline, since G and D sit
               on their own crossbars: a sample leaves G's last layer straight into D's first, real
               samples are interleaved so D never waits, and a sample's D backward follows its D
               forward (per-sample losses). A fused group takes the sum of its stages' one-sample
               cycles plus the slowest stage's marginal cycles for its further samples; weight
               updates stay barriers. Groups: g-forward + d-forward + d-backward | d-update |
               g-through-d + g-backward | g-update. It needs the layer pipeline (not
               ``--no-pipeline``); the GPU and 3D-ReG keep their serial schedule. The work is the
               same, so the dynamic energy is the same as serial; only leakage follows the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from crosstrain.golden import cycles
from crosstrain.rollup.cost import CostSettings, LayerCost, PhaseCost, SystemCost, lifetime_years, reram_cost
from crosstrain.rollup.mapper import PhaseWork
from crosstrain.rollup.networks import Gan, Network

SCHEDULES = ("serial", "pipelined")


@dataclass(frozen=True)
class GanPass:
    name: str
    model: str                  # "generator" | "discriminator"
    samples: int                # per mini-batch sample (2: the real and the generated batch)
    phases: tuple[str, ...]
    into_generator: bool = False   # the discriminator's error goes on into the generator
    text: str = ""


PASSES = (
    GanPass("g-forward", "generator", 1, ("forward", "writes"), text="G forward on a batch of noise"),
    GanPass("d-forward", "discriminator", 2, ("forward", "writes"),
            text="D forward on the real and the generated batch"),
    GanPass("d-backward", "discriminator", 2, ("backward", "gradient"),
            text="D error back-propagation and weight gradient (both batches)"),
    GanPass("d-update", "discriminator", 2, ("update", "crs"), text="D weight update"),
    GanPass("g-through-d", "discriminator", 1, ("forward", "backward"), True,
            "updated D forward on G(z), error back through D into G (no D gradient or update)"),
    GanPass("g-backward", "generator", 1, ("backward", "gradient"),
            text="G error back-propagation and weight gradient"),
    GanPass("g-update", "generator", 1, ("update", "crs"), text="G weight update"),
)
#: Passes that the pipelined schedule runs as one layer pipeline (weight updates are barriers).
FUSED = (("g-forward", "d-forward", "d-backward"), ("d-update",), ("g-through-d", "g-backward"),
         ("g-update",))
# Link traffic (3D-ReG's transfer phase) that goes with each phase.
_TRAFFIC = {"forward": "activations", "backward": "errors", "update": "weights"}
# The critical-path part of a system that holds each phase (GPU: one part per phase).
_PART = {"forward": "forward", "writes": "forward", "backward": "backward", "gradient": "backward",
         "update": "update", "crs": "crs"}


def with_input_error(net: Network) -> Network:
    """``net`` with every layer propagating its error to its input (the discriminator of a GAN:
    its input error trains the generator)."""
    return replace(net, layers=tuple(replace(l, needs_input_error=True) for l in net.layers))


def pass_network(gan: Gan, p: GanPass, *, crossbars: bool) -> Network:
    """The network a pass runs on: the generator, or the discriminator (crossbar systems: always
    the one whose arrays also serve g-through-d, its first layer with a backward copy)."""
    if p.model == "generator":
        return gan.generator
    return with_input_error(gan.discriminator) if crossbars or p.into_generator else gan.discriminator


def pass_macs(gan: Gan, p: GanPass, batch: int) -> int:
    """Multiply-adds of one pass as a GPU library issues them (:attr:`Layer.macs` per phase:
    forward, error back-propagation where the error is needed, weight gradient)."""
    net = pass_network(gan, p, crossbars=False)
    per = sum(l.macs * (("forward" in p.phases) + ("gradient" in p.phases)
                        + ("backward" in p.phases and l.needs_input_error)) for l in net.layers)
    return p.samples * batch * per


def describe(gan: Gan, batch: int) -> list[dict]:
    """The passes of one iteration (the JSON's ``network_info.passes``)."""
    return [{"name": p.name, "model": p.model, "samples": p.samples * batch, "phases": list(p.phases),
             "description": p.text, "macs": pass_macs(gan, p, batch)} for p in PASSES]


@dataclass
class _Pass:
    """One pass on one system: its phases' costs, its layers' shares and its time."""

    phases: dict[str, PhaseCost]
    layers: dict[str, dict]             # layer name -> phase -> {"latency_s", "energy_j"}
    latency_s: float                    # alone (the serial schedule)
    static: dict = field(default_factory=dict)   # non-crossbar systems: component -> J
    pipe: tuple = ()                    # crossbar systems: (fill s, step s, samples) per layer pipeline
    barrier_s: float = 0.0              # crossbar systems: update + CRS time


def _crossbar_pass(p: GanPass, S: SystemCost, nm, cost: CostSettings) -> _Pass:
    """A pass on a crossbar system: the mapped network with every other phase's work removed."""
    drop_first = p.model == "discriminator" and not p.into_generator

    def keep(lm, phase):
        return phase in p.phases and not (phase == "backward" and drop_first and lm is nm.layers[0])

    layers = [replace(lm, phases={ph: w if keep(lm, ph) else PhaseWork() for ph, w in lm.phases.items()})
              for lm in nm.layers]
    masked = replace(nm, layers=layers)
    P = reram_cost(masked, name=S.name, description=S.description, settings=cost)
    sec = lambda c: cycles.cycles_to_seconds(nm.cfg, c)          # noqa: E731
    pipe = []
    for group in (("forward", "writes"), ("backward", "gradient")):
        if set(group) & set(p.phases):
            fill, step = masked.pipeline_stages(group)
            pipe.append((sec(fill), sec(step), nm.batch))
    return _Pass({ph: P.phases[ph] for ph in p.phases}, {l.name: l.phases for l in P.layers},
                 P.latency_s, pipe=tuple(pipe),
                 barrier_s=P.critical_path["update"] + P.critical_path["crs"])


def _system_pass(p: GanPass, S: SystemCost) -> _Pass:
    """A pass on the GPU or 3D-ReG: the pass's phases of the network's iteration and the
    critical-path parts that hold them."""
    phases = {ph: S.phases[ph] for ph in p.phases if ph in S.phases}
    layers = {l.name: {ph: v for ph, v in l.phases.items() if ph in phases} for l in S.layers}
    tr = S.phases.get("transfer")
    if tr is not None and tr.events.get("link_bits"):
        kinds = dict.fromkeys(_TRAFFIC[ph] for ph in p.phases if ph in _TRAFFIC)   # ordered: same
        share = sum(tr.events[f"{k}_bits"] for k in kinds) / tr.events["link_bits"]  # sums every run
        phases["transfer"] = PhaseCost(tr.latency_s * share, tr.energy_j * share,
                                       {k: v * share for k, v in tr.events.items()},
                                       {k: v * share for k, v in tr.components.items()})
    parts = dict.fromkeys(ph if ph in S.critical_path else _PART[ph] for ph in p.phases)
    latency = sum(S.critical_path.get(part, 0.0) for part in parts)
    static = {k: S.components[k] / S.latency_s * latency for k in ("leakage", "gpu_idle")
              if k in S.components}
    return _Pass(phases, layers, latency, static=static)


def _add_phase(into: PhaseCost, ph: PhaseCost) -> None:
    into.latency_s += ph.latency_s
    into.energy_j += ph.energy_j
    for target, source in ((into.events, ph.events), (into.components, ph.components)):
        for k, v in source.items():
            target[k] = target.get(k, 0) + v


def gan_cost(gan: Gan, run, *, batch: int, schedule: str = "serial",
             cost: CostSettings = CostSettings()) -> SystemCost:
    """One GAN iteration of ``batch`` samples on one system. ``run(net, samples)`` is the
    system's cost of one training iteration of ``net`` on ``samples`` samples: ``(SystemCost,
    NetworkMap)`` for crossbar systems, ``(SystemCost, None)`` otherwise."""
    if schedule not in SCHEDULES:
        raise ValueError(f"GAN schedule {schedule!r}")       # EstimateSettings checks user input
    runs = {}

    def sub(net: Network, n: int):
        key = (net, n)
        if key not in runs:
            runs[key] = run(net, n)
        return runs[key]

    crossbars = sub(gan.generator, batch)[1] is not None
    passes = {}
    for p in PASSES:
        S, nm = sub(pass_network(gan, p, crossbars=crossbars), p.samples * batch)
        passes[p.name] = _crossbar_pass(p, S, nm, cost) if crossbars else _system_pass(p, S)

    if schedule == "pipelined" and crossbars:
        path = {"+".join(g): _fused([passes[n] for n in g]) for g in FUSED}
    else:
        path = {n: q.latency_s for n, q in passes.items()}
    latency = sum(path.values())

    # hardware: both models at once; update sub-runs for wear
    by = {p.name: p for p in PASSES}
    hw = [sub(gan.generator, batch)[0], sub(with_input_error(gan.discriminator), batch)[0]]
    updates = [sub(gan.generator, batch)[0],
               sub(pass_network(gan, by["d-update"], crossbars=crossbars), 2 * batch)[0]]
    static_parts: dict[str, float] = {}
    if crossbars:
        static_parts["leakage"] = sum(s.static_energy_j / s.latency_s for s in hw) * latency
    else:
        for q in passes.values():
            for k, v in q.static.items():
                static_parts[k] = static_parts.get(k, 0.0) + v
    static = sum(static_parts.values())

    phases: dict[str, PhaseCost] = {}
    layer_phases = {f"{m}.{l.name}": {} for m, net in (("generator", gan.generator),
                                                        ("discriminator", gan.discriminator))
                    for l in net.layers}
    for p in PASSES:
        q = passes[p.name]
        for name, ph in q.phases.items():
            _add_phase(phases.setdefault(name, PhaseCost()), ph)
        for lname, per in q.layers.items():
            into = layer_phases[f"{p.model}.{lname}"]
            for ph, v in per.items():
                e = into.setdefault(ph, {"latency_s": 0.0, "energy_j": 0.0})
                e["latency_s"] += v["latency_s"]
                e["energy_j"] += v["energy_j"]
    components: dict[str, float] = {}
    for ph in phases.values():
        for k, v in ph.components.items():
            components[k] = components.get(k, 0.0) + v
    components.update(static_parts)

    area: dict[str, float] = {}
    for s in hw:
        for k, v in s.area_breakdown.items():
            area[k] = max(area.get(k, 0.0), v) if k == "gpu_die" else area.get(k, 0.0) + v
    lm_of = {f"{m}.{l.name}": l for m, s in (("generator", hw[0]), ("discriminator", hw[1]))
             for l in s.layers}
    layers = [LayerCost(name, lm_of[name].kind, per, lm_of[name].arrays, lm_of[name].replication,
                        lm_of[name].utilization) for name, per in layer_phases.items()]

    wpc: dict[str, float] = {}
    for s in updates:
        for copy, w in s.writes_per_cell.items():
            wpc[copy] = max(wpc.get(copy, 0.0), w)
    lives = [s.lifetime_iterations for s in updates if s.lifetime_iterations is not None]
    iterations = min(lives) if lives else None
    first = hw[0]
    return SystemCost(
        name=first.name, kind=first.kind, hardware=first.hardware, schedule=first.schedule,
        description=first.description,
        latency_s=latency, energy_j=sum(ph.energy_j for ph in phases.values()) + static,
        area_mm2=sum(area.values()), phases=phases, components=components, layers=layers,
        critical_path=path, static_energy_j=static, area_breakdown=area,
        arrays=None if first.arrays is None else sum(s.arrays for s in hw),
        tiles=None if first.tiles is None else sum(s.tiles for s in hw),
        max_writes_per_cell=max(wpc.values()) if wpc else None, writes_per_cell=wpc,
        lifetime_iterations=iterations, lifetime_years=lifetime_years(iterations, latency, cost),
        notes=list(first.notes),
        passes={n: {"latency_s": q.latency_s, "energy_j": sum(ph.energy_j for ph in q.phases.values())}
                for n, q in passes.items()})


def _fused(group: list[_Pass]) -> float:
    """Seconds of passes run as one layer pipeline: every stage's one-sample time, then the
    slowest stage's marginal time for its further samples; update barriers after."""
    pipe = [x for q in group for x in q.pipe]
    drain = max(((n - 1) * step for _, step, n in pipe), default=0.0)
    return sum(fill for fill, _, _ in pipe) + drain + sum(q.barrier_s for q in group)
