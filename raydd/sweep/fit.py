"""Whether a Ray cluster can ever give a sweep what its `resources` ask, checked once Ray is up and
before any trial or evaluator is requested. Ray queues an ask that no node can meet without a
word, so a sweep asking too much would otherwise wait forever, printing nothing.

What must fit:
- one trial's bundle on some node, and one evaluator's bundle on some node;
- every evaluator at once in the cluster's total, with one trial beside them when the evaluators
  are CPU-only (the dispatcher starts those at once and keeps them for the whole sweep; GPU
  evaluators are started per finished set and ended when idle, see `raydd.sweep.dispatcher`);
- a GPU, when a trial or an evaluator asks for one.
A sweep file names no custom resources (only `cpu` and `gpu`), so there are none to check.

A local Ray this process started can never grow, nor a cluster whose autoscaler is Ray's
read-only one (a head started without an autoscaling config): a shortfall there is refused. Any
other cluster may have an autoscaler that adds nodes, so there it is a warning that names what the
sweep waits for.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable, Mapping, Sequence

from raydd.spec import ResourceSpec

RAY_UNIT = 1e-4  # Ray counts resources in ten-thousandths; a smaller excess is rounding, not real
DIMENSIONS = (("CPU", "cpu"), ("GPU", "gpu"))
STATUS_WAIT_S = 20.0  # a head's monitor publishes its status every ~5 s; more on a loaded machine  # Ray's resource name, the sweep file's key

Nodes = Sequence[Mapping[str, float]]  # one dict of resource name -> amount per alive node


class ClusterTooSmall(ValueError):
    """The Ray cluster can never give what the sweep asks, and it cannot grow."""


def _exceeds(need: float, have: float) -> bool:
    return round(need / RAY_UNIT) > round(have / RAY_UNIT)


def _bundle(cpu: float, gpu: float) -> str:
    return f"{cpu:g} CPU, {gpu:g} GPU"


def _total(nodes: Nodes, name: str) -> float:
    return sum(node.get(name, 0.0) for node in nodes)


def _no_gpu(r: ResourceSpec, nodes: Nodes, where: str) -> str | None:
    asks = [(f"{label} asks {gpu:g} GPU", key) for label, gpu, key in (
        ("a trial", r.trial_gpu, "resources.trial.gpu"), ("an evaluator", r.evaluator_gpu, "resources.evaluators.gpu"))
        if gpu > 0]
    if not asks or _total(nodes, "GPU") > 0:
        return None
    return (f"resources: {' and '.join(a for a, _ in asks)}; {where} has no GPU "
            f"({' or '.join(key for _, key in asks)})")


def _on_one_node(label: str, cpu: float, gpu: float, section: str, nodes: Nodes, where: str) -> str | None:
    ask = {"CPU": cpu, "GPU": gpu}
    if any(not any(_exceeds(ask[name], node.get(name, 0.0)) for name, _ in DIMENSIONS) for node in nodes):
        return None
    largest = {name: max((node.get(name, 0.0) for node in nodes), default=0.0) for name, _ in DIMENSIONS}
    keys = [f"{section}.{key}" for name, key in DIMENSIONS if _exceeds(ask[name], largest[name])]
    keys = keys or [f"{section}.{key}" for _, key in DIMENSIONS]  # each fits some node, never both one
    has = _bundle(largest["CPU"], largest["GPU"])
    if len(nodes) == 1:
        return f"resources: {label} ({_bundle(cpu, gpu)}) needs more than {where} has ({has}) ({' or '.join(keys)})"
    return (f"resources: {label} ({_bundle(cpu, gpu)}) fits on no node of {where}; its nodes have at most "
            f"{has} ({' or '.join(keys)})")


def _in_total(r: ResourceSpec, nodes: Nodes, where: str, trials: bool) -> str | None:
    together = trials and r.evaluator_gpu == 0  # CPU-only evaluators hold their slices for the whole sweep
    evaluators = "the evaluator" if r.evaluators == 1 else f"the {r.evaluators} evaluators"
    what = f"{evaluators} ({_bundle(r.evaluator_cpu, r.evaluator_gpu)} each)"
    what += f" and one trial ({_bundle(r.trial_cpu, r.trial_gpu)})" if together else ""
    for name, key in DIMENSIONS:
        need = r.evaluators * getattr(r, f"evaluator_{key}") + (getattr(r, f"trial_{key}") if together else 0.0)
        have = _total(nodes, name)
        if _exceeds(need, have):
            keys = ["resources.evaluators.count", f"resources.evaluators.{key}"]
            keys += [f"resources.trial.{key}"] if together and getattr(r, f"trial_{key}") > 0 else []
            return (f"resources: {what} need {need:g} {name}s; {where} has {have:g} "
                    f"({', '.join(keys[:-1])} or {keys[-1]})")
    return None


def shortfall(r: ResourceSpec, nodes: Nodes, where: str = "this Ray cluster", trials: bool = True) -> str | None:
    """Why `nodes` can never run a sweep asking `r`, in one line naming the keys to change; None
    when they can. `where` names the nodes in that line; `trials` False: the sweep has none
    (`baselines_only`), so only its evaluators must fit."""
    if not trials:
        r = dataclasses.replace(r, trial_cpu=0.0, trial_gpu=0.0)
    return (_no_gpu(r, nodes, where)
            or _on_one_node("one trial", r.trial_cpu, r.trial_gpu, "resources.trial", nodes, where)
            or _on_one_node("one evaluator", r.evaluator_cpu, r.evaluator_gpu, "resources.evaluators", nodes, where)
            or _in_total(r, nodes, where, trials))


def this_machine() -> list[dict[str, float]]:
    """This machine as the one node of the local Ray a sweep run here would start (Ray counts its
    cores and CUDA devices the same way)."""
    import os

    import torch

    return [{"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}]


def _alive_nodes() -> list[dict[str, float]]:
    import ray

    return [dict(node["Resources"]) for node in ray.nodes() if node["Alive"]]


def _started_here() -> bool:
    """True when this process started the local Ray it is connected to (`ray.init()` without a
    cluster to join): such an instance has no autoscaler. Ray keeps that in its worker module's
    node object (a private name, checked with Ray 2.60); unknown counts as attached."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    return bool(getattr(node, "head", False))


def read_only_autoscaler(status: bytes | str | None) -> bool:
    """True when the autoscaler status a Ray head publishes (its monitor's JSON, refreshed every few
    seconds) comes from the read-only provider, which only watches and never adds a node: it names
    each node's type `node_<node id>`, where a configured autoscaler uses its config's type names.
    False when it cannot be told (no status yet, autoscaler v2, another format)."""
    try:
        mapping = json.loads(status)["autoscaler_report"]["node_type_mapping"]
    except (TypeError, ValueError, KeyError):
        return False
    return isinstance(mapping, dict) and bool(mapping) and all(
        kind == f"node_{node}" for node, kind in mapping.items())


def _without_autoscaler() -> bool:
    """Whether the head's published status says it has only the read-only autoscaler; a head just
    started has published none yet, so wait for its first one (only a sweep that does not fit
    comes here, so a fitting one never waits)."""
    import time

    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    deadline = time.monotonic() + STATUS_WAIT_S
    status = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    while status is None and time.monotonic() < deadline:
        time.sleep(1.0)
        status = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    return read_only_autoscaler(status)


def check_cluster(r: ResourceSpec, echo: Callable[[str], None], trials: bool = True) -> None:
    """Refuse (`ClusterTooSmall`) a sweep the connected Ray can never run, or warn in one line when
    the cluster may still grow. Call after Ray is up, before any trial or evaluator is requested."""
    problem = shortfall(r, _alive_nodes(), trials=trials)
    if problem is None:
        return
    if _started_here():
        raise ClusterTooSmall(f"{problem}; the local Ray started for this sweep cannot grow")
    if _without_autoscaler():
        raise ClusterTooSmall(f"{problem}; this Ray cluster has no autoscaler to add nodes")
    echo(f"warning: {problem}; the sweep waits until the cluster adds such nodes (an autoscaler may; "
         "if none will, stop it and change the file)")
