"""Placement preview: before a job is submitted, will its pod set fit, and where?

Pure functions over a node inventory, reasoning like Kueue's topology-aware scheduler (TAS) with
the OCI ``oci-rdma`` Topology (levels, top to bottom: HPC island, network block, local block,
host) and its default ``BestFit`` profile (``pkg/cache/tas_flavor_snapshot.go``).

Semantics:

* Candidates: ready nodes whose labels match the flavor's ``node_labels`` and that carry every
  topology label (island, network block, local block). Kueue TAS ignores nodes without the
  Topology's labels; ``kubernetes.io/hostname`` may be absent, then the node name stands for it.
  Unready and unlabelled nodes of the flavor are reported (``Plan.unready``, ``Plan.unlabelled``).
* Capacity: a node holds ``(allocatable_gpus - used_gpus) // gpus_per_pod`` pods (never below 0).
  A domain holds the sum over its nodes.
* Domains: a domain at level L is the set of candidates sharing the label values of L and of every
  level above it, so the same local block id under two network blocks is two domains. A
  domain's ``values`` is that path of label values, top level first.
* ``required``: every pod in ONE domain at the requested level. Among the domains that can hold
  all pods, the one with the least capacity that still fits (BestFit; ties by values path).
* ``preferred``: the requested level first; if no domain there fits, climb one level at a time
  (local block, network block, HPC island), then the whole candidate set (``Plan.level`` None).
  It fails only when the whole candidate set cannot hold the pods.
* Assignment within the chosen domain(s), level by level as Kueue does: gather the children of
  the domains chosen so far, sort them by capacity descending (ties by values path), take them
  whole until the remainder fits in one, and take for that last one the smallest child that
  still holds the remainder (BestFit again). Hosts, and at the bottom nodes, are filled the same
  way.

Limits against Kueue: only GPUs count (no CPU, memory, ``pods`` or other resources), no taints
or tolerations, no quota, preemption or other pending workloads, no pod-set slices or groups, no
``unconstrained`` mode and no MostFreeCapacity/LeastFreeCapacity profiles. Kueue also re-sorts
the children of several chosen domains together (so a partly used last domain may give more
pods than its share); this preview does the same. It is a preview: the cluster can change
before the job is admitted.

One pass builds the domain tree with its sums; choosing and assigning are sorts and linear
scans, no search over combinations (2,000 nodes take a few milliseconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ironplane.core.errors import InvalidError

HPC_ISLAND = "oci.oraclecloud.com/rdma.hpc_island_id"
NETWORK_BLOCK = "oci.oraclecloud.com/rdma.network_block_id"
LOCAL_BLOCK = "oci.oraclecloud.com/rdma.local_block_id"
HOSTNAME = "kubernetes.io/hostname"

LEVELS: tuple[str, ...] = (HPC_ISLAND, NETWORK_BLOCK, LOCAL_BLOCK, HOSTNAME)
WITHIN: dict[str, str] = {
    "hpc_island": HPC_ISLAND,
    "network_block": NETWORK_BLOCK,
    "local_block": LOCAL_BLOCK,
    "host": HOSTNAME,
}
MODES: tuple[str, ...] = ("required", "preferred")

_NAMES = ("HPC island", "network block", "local block", "host")
_REQUIRED_LABELS = LEVELS[:-1]


@dataclass(frozen=True, slots=True)
class Node:
    """One node of the inventory: its labels and its GPUs."""

    name: str
    labels: Mapping[str, str]
    allocatable_gpus: int
    used_gpus: int = 0
    ready: bool = True


@dataclass(frozen=True, slots=True)
class PodSet:
    """The pods to place: ``pods`` of ``gpus_per_pod`` GPUs, kept ``within`` a topology level."""

    pods: int
    gpus_per_pod: int
    within: str
    mode: str
    node_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.pods < 1:
            raise InvalidError(f"pods must be at least 1, not {self.pods}")
        if self.gpus_per_pod < 1:
            raise InvalidError(f"gpus_per_pod must be at least 1, not {self.gpus_per_pod}")
        if self.within not in WITHIN:
            raise InvalidError(f"within must be one of {', '.join(WITHIN)}, not {self.within!r}")
        if self.mode not in MODES:
            raise InvalidError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")


@dataclass(frozen=True, slots=True)
class DomainSummary:
    """One domain at the requested level: its path, free GPUs, pods that fit, nodes, assigned."""

    values: tuple[str, ...]
    free_gpus: int
    pods: int
    nodes: int
    assigned: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    """The answer: whether the pod set fits, where, and why (or why not)."""

    fits: bool
    level: str | None  # the level placed within; None: across the cluster (or no fit)
    domain: tuple[str, ...]  # the chosen domain's values, top level first; () when level is None
    assignment: dict[str, int]  # node name -> pods
    domains: list[DomainSummary]  # the requested level's domains, most pods first
    reason: str
    podset: PodSet
    cluster_pods: int = 0  # pods that fit across all candidates
    candidates: int = 0
    unready: tuple[str, ...] = ()
    unlabelled: tuple[str, ...] = ()

    def render(self, limit: int = 10) -> str:
        """A short text table for a terminal: the ``limit`` roomiest domains and those used."""
        requested = LEVELS.index(WITHIN[self.podset.within])
        lines = [("fits: " if self.fits else "does not fit: ") + self.reason]
        if self.level is not None:
            lines.append(f"level: {self.level}")
        header = (f"{_NAMES[requested].upper()} (top level first)", "PODS", "FREE GPUS", "NODES")
        shown = [s for i, s in enumerate(self.domains) if i < limit or s.assigned]
        rows = [
            (" / ".join(s.values), str(s.pods), str(s.free_gpus), str(s.nodes), str(s.assigned))
            for s in shown
        ]
        if rows:
            table = [(*header, "ASSIGNED"), *rows]
            widths = [max(len(row[i]) for row in table) for i in range(5)]
            for row in table:
                cells = [row[0].ljust(widths[0])]
                cells += [row[i].rjust(widths[i]) for i in range(1, 5)]
                lines.append("  " + "  ".join(cells).rstrip())
            if len(self.domains) > len(shown):
                lines.append(f"  ... and {len(self.domains) - len(shown)} more")
        if self.assignment:
            pods = [f"{name}={n}" for name, n in sorted(self.assignment.items())]
            more = f" and {len(pods) - 20} more" if len(pods) > 20 else ""
            lines.append(f"assignment ({len(pods)} nodes): {', '.join(pods[:20])}{more}")
        if self.fits:  # a failure's reason already names them
            lines.extend(_ignored_notes(self.unready, self.unlabelled, ()))
        return "\n".join(lines)


class _Domain:
    """A node of the domain tree; the bottom level (``node`` set) is one Kubernetes node."""

    __slots__ = ("children", "free", "node", "nodes", "pods", "values")

    def __init__(self, values: tuple[str, ...], node: str = "") -> None:
        self.values = values
        self.node = node
        self.pods = 0
        self.free = 0
        self.nodes = 0
        self.children: list[_Domain] = []


def _order(domain: _Domain) -> tuple[int, tuple[str, ...], str]:
    return (-domain.pods, domain.values, domain.node)


def _best_fit(domains: Iterable[_Domain], count: int) -> _Domain | None:
    """The domain with the least pods that still holds ``count`` (ties: lowest values path)."""
    best: _Domain | None = None
    for domain in domains:
        if domain.pods >= count and (
            best is None or (domain.pods, domain.values) < (best.pods, best.values)
        ):
            best = domain
    return best


def _take(ordered: list[_Domain], count: int) -> list[tuple[_Domain, int]]:
    """Kueue's updateCountsToMinimum with BestFit, over domains sorted by ``_order``."""
    taken: list[tuple[_Domain, int]] = []
    remaining = count
    for i, domain in enumerate(ordered):
        if domain.pods >= remaining:
            last = i  # the first occurrence of the smallest capacity that still fits
            for j in range(i + 1, len(ordered)):
                if ordered[j].pods < remaining:
                    break
                if ordered[j].pods < ordered[last].pods:
                    last = j
            taken.append((ordered[last], remaining))
            return taken
        taken.append((domain, domain.pods))
        remaining -= domain.pods
    raise AssertionError("capacity is checked before assigning")  # pragma: no cover


def _assign(chosen: list[_Domain], count: int) -> list[tuple[_Domain, int]]:
    """Go down from the chosen domains to nodes, level by level."""
    current = _take(sorted(chosen, key=_order), count)
    while current[0][0].children:
        children = [child for domain, _ in current for child in domain.children]
        children.sort(key=_order)
        current = _take(children, count)
    return current


def _pods(n: int, gpus: int) -> str:
    return f"{n} pod{'' if n == 1 else 's'} of {gpus} GPU{'' if gpus == 1 else 's'}"


def _where(values: tuple[str, ...]) -> str:
    """'local block a1 (network block n1, HPC island i1)' for a values path."""
    depth = len(values) - 1
    text = f"{_NAMES[depth]} {values[-1]}"
    if depth:
        above = ", ".join(f"{_NAMES[i]} {values[i]}" for i in range(depth - 1, -1, -1))
        text += f" ({above})"
    return text


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _ignored_notes(
    unready: Sequence[str], unlabelled: Sequence[str], missing: Iterable[str]
) -> list[str]:
    notes = []
    if unlabelled:
        which = sorted(missing)
        labels = f" ({', '.join(which)})" if which else ""
        notes.append(
            f"{len(unlabelled)} node{' lacks' if len(unlabelled) == 1 else 's lack'} the "
            f"topology labels{labels}: {_names(unlabelled)}"
        )
    if unready:
        notes.append(
            f"{len(unready)} node{' is' if len(unready) == 1 else 's are'} not ready: "
            f"{_names(unready)}"
        )
    return notes


def _on_nodes(placed: list[tuple[_Domain, int]]) -> str:
    frees = sorted(domain.free for domain, _ in placed)
    count = len(placed)
    nodes = f"{count} node{'' if count == 1 else 's'}"
    if frees[0] == frees[-1]:
        each = " each" if count > 1 else ""
        return f"on {nodes} with {frees[0]} free GPU{'' if frees[0] == 1 else 's'}{each}"
    return f"on {nodes} with {frees[0]} to {frees[-1]} free GPUs"


def preview(nodes: Iterable[Node], podset: PodSet) -> Plan:
    """Whether and where ``podset`` fits on ``nodes``; see the module docstring for the rules."""
    count, gpus = podset.pods, podset.gpus_per_pod
    requested = LEVELS.index(WITHIN[podset.within])
    root = _Domain(())
    per_level: list[dict[tuple[str, ...], _Domain]] = [{} for _ in LEVELS]
    paths: dict[str, tuple[str, ...]] = {}
    unready: list[str] = []
    unlabelled: list[str] = []
    missing: set[str] = set()
    selector = tuple(podset.node_labels.items())
    seen: set[str] = set()
    other = 0
    for node in nodes:
        if node.name in seen:
            raise InvalidError(f"node {node.name!r} appears twice in the inventory")
        seen.add(node.name)
        labels = node.labels
        if any(labels.get(key) != value for key, value in selector):
            other += 1
            continue
        if not node.ready:
            unready.append(node.name)
            continue
        lacking = [label for label in _REQUIRED_LABELS if label not in labels]
        if lacking:
            unlabelled.append(node.name)
            missing.update(lacking)
            continue
        path = (
            labels[HPC_ISLAND],
            labels[NETWORK_BLOCK],
            labels[LOCAL_BLOCK],
            labels.get(HOSTNAME, node.name),
        )
        paths[node.name] = path
        free = max(node.allocatable_gpus - node.used_gpus, 0)
        fit = free // gpus
        parent = root
        for depth, level in enumerate(per_level):
            parent.pods += fit
            parent.free += free
            parent.nodes += 1
            key = path[: depth + 1]
            domain = level.get(key)
            if domain is None:
                domain = level[key] = _Domain(key)
                parent.children.append(domain)
            parent = domain
        parent.pods += fit
        parent.free += free
        parent.nodes += 1
        leaf = _Domain(path, node.name)
        leaf.pods, leaf.free, leaf.nodes = fit, free, 1
        parent.children.append(leaf)

    at_level = sorted(per_level[requested].values(), key=_order)
    ignored = (tuple(sorted(unready)), tuple(sorted(unlabelled)))
    notes = _ignored_notes(*ignored, missing)
    counts = (root.pods, len(paths))
    name = _NAMES[requested]
    want = _pods(count, gpus)

    def fail(reason: str) -> Plan:
        summaries = [DomainSummary(d.values, d.free, d.pods, d.nodes) for d in at_level]
        reason = "; ".join([reason, *notes])
        return Plan(False, None, (), {}, summaries, reason, podset, *counts, *ignored)

    if not paths:
        wanted = " ".join(f"{k}={v}" for k, v in selector)
        if not wanted:
            return fail("no ready node with all topology labels")
        other_text = f" ({other} of {len(seen)} nodes do not have these labels)" if other else ""
        return fail(f"no ready node with the labels {wanted} and all topology labels{other_text}")

    # The level to place within: the requested one, or (preferred) the first one above that fits.
    fit_depth: int | None = None
    chosen: list[_Domain] = []
    largest = at_level[0]
    for depth in range(requested, -1 if podset.mode == "preferred" else requested - 1, -1):
        best = _best_fit(per_level[depth].values(), count)
        if best is not None:
            fit_depth, chosen = depth, [best]
            break
    else:
        if podset.mode == "required":
            reason = (
                f"no {name} has room for {want}: the largest, {largest.values[-1]}, fits "
                f"{largest.pods} ({largest.free} free GPUs); across the cluster "
                f"{root.pods} pod{' fits' if root.pods == 1 else 's fit'}"
            )
            if root.pods >= count:
                reason += f"; mode preferred would place them {_climb(per_level, requested, count)}"
            return fail(reason)
        if root.pods < count:
            return fail(
                f"not enough room for {want}: across the cluster {root.pods} "
                f"fit{'s' if root.pods == 1 else ''} "
                f"({root.free} free GPUs on {root.nodes} nodes)"
            )
        chosen = root.children

    placed = _assign(chosen, count)
    assignment = {leaf.node: n for leaf, n in placed}
    assigned: dict[tuple[str, ...], int] = {}
    for leaf, n in placed:
        key = paths[leaf.node][: requested + 1]
        assigned[key] = assigned.get(key, 0) + n
    summaries = [
        DomainSummary(d.values, d.free, d.pods, d.nodes, assigned.get(d.values, 0))
        for d in at_level
    ]
    if fit_depth is None:
        tops = len({paths[node][0] for node in assignment})
        where = f"across the cluster ({tops} {_NAMES[0]}s)"
        top = min(per_level[0].values(), key=_order)
        climbed = f"not in one {_NAMES[0]} (the largest, {top.values[-1]}, fits {top.pods})"
    else:
        where = ("on " if fit_depth == len(LEVELS) - 1 else "in ") + _where(chosen[0].values)
        climbed = ""
        if fit_depth < requested:
            climbed = f"not in one {name} (the largest, {largest.values[-1]}, fits {largest.pods})"
    reason = f"fits {where}" + (f", {climbed}" if climbed else "")
    reason += f": {want} {_on_nodes(placed)}"
    fit_level = None if fit_depth is None else LEVELS[fit_depth]
    fit_values = () if fit_depth is None else chosen[0].values
    return Plan(
        True, fit_level, fit_values, assignment, summaries, reason, podset, *counts, *ignored
    )


def _climb(per_level: list[dict[tuple[str, ...], _Domain]], requested: int, count: int) -> str:
    """Where mode preferred would place ``count`` pods (for a hint when required fails)."""
    for depth in range(requested - 1, -1, -1):
        best = _best_fit(per_level[depth].values(), count)
        if best is not None:
            return ("on " if depth == len(LEVELS) - 1 else "in ") + _where(best.values)
    return "across the cluster"
