"""Placement preview: each rule on hand-made inventories, then against a reference oracle."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironplane.core.errors import InvalidError
from ironplane.placement import (
    HOSTNAME,
    HPC_ISLAND,
    LEVELS,
    LOCAL_BLOCK,
    NETWORK_BLOCK,
    WITHIN,
    Node,
    Plan,
    PodSet,
    preview,
)

SHAPE = "node.kubernetes.io/instance-type"
H100 = {SHAPE: "BM.GPU.H100.8"}


def node(
    name: str,
    island: str = "i1",
    network_block: str = "n1",
    local_block: str = "a1b2",
    *,
    used: int = 0,
    gpus: int = 8,
    ready: bool = True,
    extra: Mapping[str, str] = H100,
) -> Node:
    labels = {HPC_ISLAND: island, NETWORK_BLOCK: network_block, LOCAL_BLOCK: local_block, **extra}
    return Node(name, labels, gpus, used, ready)


def block(prefix: str, count: int, island: str, nb: str, lb: str, used: int = 0) -> list[Node]:
    return [node(f"{prefix}{i}", island, nb, lb, used=used) for i in range(count)]


def make_inventory(
    n_nodes: int,
    seed: int,
    *,
    network_blocks: int = 8,
    local_blocks: tuple[int, int] = (2, 4),
    local_block_size: tuple[int, int] = (16, 32),
    gpus: int = 8,
    busy: float = 0.35,
    unready: float = 0.01,
    unlabelled: float = 0.0,
    shape: str = "BM.GPU.H100.8",
) -> list[Node]:
    """A realistic OCI inventory, filled in order: local blocks of 16-32 hosts, 2-4 to a network
    block, 8 network blocks to an HPC island (2,000 nodes: 4 islands; 100: one). Ids are random
    hex hashes as OKE's are; a ``busy`` share runs pods on all or some GPUs; ``unready`` and
    ``unlabelled`` (no local block label) shares are set aside; the order is shuffled."""
    rng = random.Random(seed)

    def hash_id() -> str:
        return f"{rng.getrandbits(48):012x}"

    nodes: list[Node] = []
    island = network_block = local_block = ""
    room = [0, 0, 0]  # network blocks left in the island, local blocks in the network block, hosts
    while len(nodes) < n_nodes:
        if room == [0, 0, 0]:
            island, room[0] = hash_id(), network_blocks
        if room[1:] == [0, 0]:
            network_block, room[0], room[1] = hash_id(), room[0] - 1, rng.randint(*local_blocks)
        if room[2] == 0:
            local_block, room[1], room[2] = hash_id(), room[1] - 1, rng.randint(*local_block_size)
        room[2] -= 1
        name = f"10-0-{len(nodes) // 250}-{len(nodes) % 250}"
        labels = dict(zip(LEVELS, (island, network_block, local_block, name), strict=True))
        labels |= {SHAPE: shape, "nvidia.com/gpu": "true"}
        if rng.random() < unlabelled:
            del labels[LOCAL_BLOCK]
        used = 0
        if rng.random() < busy:
            used = gpus if rng.random() < 0.6 else rng.randint(1, gpus - 1)
        nodes.append(Node(name, labels, gpus, used, rng.random() >= unready))
    rng.shuffle(nodes)
    return nodes


# -- a reference oracle, computed from the labels without the module's tree ----------------------


def candidates(nodes: Sequence[Node], podset: PodSet) -> dict[str, tuple[tuple[str, ...], int]]:
    out = {}
    for n in nodes:
        if not n.ready or any(n.labels.get(k) != v for k, v in podset.node_labels.items()):
            continue
        if all(label in n.labels for label in LEVELS[:-1]):
            path = tuple(n.labels.get(label, n.name) for label in LEVELS)
            out[n.name] = (path, max(n.allocatable_gpus - n.used_gpus, 0) // podset.gpus_per_pod)
    return out


def capacities(
    cands: Mapping[str, tuple[tuple[str, ...], int]], depth: int
) -> dict[tuple[str, ...], int]:
    sums: dict[tuple[str, ...], int] = {}
    for path, cap in cands.values():
        sums[path[: depth + 1]] = sums.get(path[: depth + 1], 0) + cap
    return sums


def expected(nodes: Sequence[Node], podset: PodSet) -> tuple[bool, str | None, tuple[str, ...]]:
    """(fits, level, domain) by checking every domain of every allowed level."""
    cands = candidates(nodes, podset)
    requested = LEVELS.index(WITHIN[podset.within])
    depths = [requested] if podset.mode == "required" else range(requested, -1, -1)
    for depth in depths:
        fitting = {k: c for k, c in capacities(cands, depth).items() if c >= podset.pods}
        if fitting:
            return True, LEVELS[depth], min(fitting, key=lambda k: (fitting[k], k))
    if podset.mode == "preferred" and sum(c for _, c in cands.values()) >= podset.pods:
        return True, None, ()
    return False, None, ()


def check(nodes: Sequence[Node], podset: PodSet, plan: Plan) -> None:
    cands = candidates(nodes, podset)
    assert (plan.fits, plan.level, plan.domain) == expected(nodes, podset)
    assert plan.cluster_pods == sum(c for _, c in cands.values())
    assert plan.candidates == len(cands)
    requested = LEVELS.index(WITHIN[podset.within])
    caps = capacities(cands, requested)
    assert {(s.values, s.pods) for s in plan.domains} == set(caps.items())
    assert [s.pods for s in plan.domains] == sorted((s.pods for s in plan.domains), reverse=True)
    if not plan.fits:
        assert plan.assignment == {}
        assert all(s.assigned == 0 for s in plan.domains)
        return
    assert sum(plan.assignment.values()) == podset.pods
    assert sum(s.assigned for s in plan.domains) == podset.pods
    for name, pods in plan.assignment.items():
        path, cap = cands[name]
        assert 1 <= pods <= cap
        assert path[: len(plan.domain)] == plan.domain


def h100(pods: int, within: str = "local_block", mode: str = "required", gpus: int = 8) -> PodSet:
    return PodSet(pods, gpus, within, mode, H100)


# -- rules ----------------------------------------------------------------------------------------


def test_required_fits_in_one_local_block() -> None:
    nodes = block("a", 4, "i1", "n1", "a1b2") + block("b", 2, "i1", "n1", "c3")
    plan = preview(nodes, h100(4))
    assert plan.fits and plan.level == LOCAL_BLOCK and plan.domain == ("i1", "n1", "a1b2")
    assert plan.assignment == {"a0": 1, "a1": 1, "a2": 1, "a3": 1}
    assert plan.reason == (
        "fits in local block a1b2 (network block n1, HPC island i1): "
        "4 pods of 8 GPUs on 4 nodes with 8 free GPUs each"
    )
    check(nodes, h100(4), plan)


def test_required_does_not_fit_and_says_why() -> None:
    nodes = block("a", 3, "i1", "n1", "a1b2") + block("b", 7, "i1", "n2", "c3", used=8)
    nodes += block("c", 7, "i2", "n3", "d4")
    plan = preview(nodes, h100(8))
    assert not plan.fits and plan.assignment == {} and plan.level is None
    assert plan.reason == (
        "no local block has room for 8 pods of 8 GPUs: the largest, d4, fits 7 (56 free GPUs); "
        "across the cluster 10 pods fit; mode preferred would place them across the cluster"
    )
    plan = preview(nodes, h100(4))
    assert plan.domain == ("i2", "n3", "d4")  # the only block with room
    plan = preview(nodes[:3], h100(4))
    assert plan.reason == (
        "no local block has room for 4 pods of 8 GPUs: the largest, a1b2, fits 3 (24 free GPUs); "
        "across the cluster 3 pods fit"
    )


def test_preferred_climbs_level_by_level_then_to_the_cluster() -> None:
    nodes = (
        block("a", 3, "i1", "n1", "l1")
        + block("b", 2, "i1", "n1", "l2")
        + block("c", 2, "i1", "n2", "l3")
        + block("d", 4, "i2", "n3", "l4")
    )
    steps = [
        (3, LOCAL_BLOCK, ("i1", "n1", "l1")),
        (5, NETWORK_BLOCK, ("i1", "n1")),
        (7, HPC_ISLAND, ("i1",)),
        (11, None, ()),
    ]
    for pods, level, domain in steps:
        plan = preview(nodes, h100(pods, mode="preferred"))
        assert (plan.fits, plan.level, plan.domain) == (True, level, domain), pods
        assert sum(plan.assignment.values()) == pods
        check(nodes, h100(pods, mode="preferred"), plan)
    assert preview(nodes, h100(5, mode="preferred")).reason == (
        "fits in network block n1 (HPC island i1), not in one local block (the largest, l4, "
        "fits 4): 5 pods of 8 GPUs on 5 nodes with 8 free GPUs each"
    )
    assert preview(nodes, h100(11, mode="preferred")).reason == (
        "fits across the cluster (2 HPC islands), not in one HPC island (the largest, i1, fits 7)"
        ": 11 pods of 8 GPUs on 11 nodes with 8 free GPUs each"
    )
    plan = preview(nodes, h100(12, mode="preferred"))
    assert not plan.fits
    assert plan.reason == (
        "not enough room for 12 pods of 8 GPUs: across the cluster 11 fit (88 free GPUs on 11 nodes)"
    )
    assert not preview(nodes, h100(5)).fits  # required never climbs


def test_used_gpus_are_counted() -> None:
    nodes = [node("a", used=4), node("b", used=1), node("c", used=9), node("d")]
    assert preview(nodes, h100(2)).reason.startswith("no local block has room for 2 pods")
    plan = preview(nodes, h100(4, gpus=4))  # a: 1, b: 1, c: 0 (over-used), d: 2
    assert plan.assignment == {"d": 2, "a": 1, "b": 1}
    assert plan.domains[0].free_gpus == 4 + 7 + 0 + 8
    plan = preview(nodes, h100(2, gpus=7))  # 7 free on b and d, 4 on a
    assert plan.assignment == {"b": 1, "d": 1}


def test_gpus_per_pod_larger_than_some_nodes_free_gpus() -> None:
    nodes = [node("big"), node("half", used=4), node("small", used=7), node("big2", gpus=16)]
    plan = preview(nodes, h100(3, gpus=8))
    assert plan.assignment == {"big2": 2, "big": 1}
    assert plan.reason.endswith("3 pods of 8 GPUs on 2 nodes with 8 to 16 free GPUs")
    assert not preview(nodes, h100(1, gpus=32)).fits


def test_unready_and_unlabelled_nodes_are_ignored_and_reported() -> None:
    nodes = [
        node("down", ready=False),
        Node("bare", {**H100, HPC_ISLAND: "i1"}, 8),
        Node("other-shape", {SHAPE: "BM.GPU.A100-v2.8"}, 8),
        node("ok"),
    ]
    plan = preview(nodes, h100(2))
    assert plan.unready == ("down",) and plan.unlabelled == ("bare",) and plan.candidates == 1
    assert plan.reason == (
        "no local block has room for 2 pods of 8 GPUs: the largest, a1b2, fits 1 (8 free GPUs); "
        "across the cluster 1 pod fits; 1 node lacks the topology labels "
        f"({LOCAL_BLOCK}, {NETWORK_BLOCK}): bare; 1 node is not ready: down"
    )
    assert preview(nodes, h100(1)).assignment == {"ok": 1}
    plan = preview(nodes[:2], h100(1))
    assert plan.reason == (
        "no ready node with the labels node.kubernetes.io/instance-type=BM.GPU.H100.8 and all "
        f"topology labels; 1 node lacks the topology labels ({LOCAL_BLOCK}, {NETWORK_BLOCK}): "
        "bare; 1 node is not ready: down"
    )
    many = [Node(f"n{i}", H100, 8) for i in range(7)]
    assert "7 nodes lack the topology labels" in preview(many, h100(1)).reason
    assert "n4 and 2 more" in preview(many, h100(1)).reason


def test_node_labels_select_the_flavor() -> None:
    nodes = [node("h100"), node("a100", extra={SHAPE: "BM.GPU.A100-v2.8"})]
    assert preview(nodes, h100(1)).assignment == {"h100": 1}
    assert preview(nodes, PodSet(2, 8, "local_block", "required")).fits  # no selector: both
    plan = preview(nodes, PodSet(1, 8, "host", "required", {SHAPE: "BM.GPU.B200.8"}))
    assert not plan.fits
    assert plan.reason == (
        "no ready node with the labels node.kubernetes.io/instance-type=BM.GPU.B200.8 and all "
        "topology labels (2 of 2 nodes do not have these labels)"
    )


def test_same_local_block_id_under_two_network_blocks_is_two_domains() -> None:
    nodes = block("a", 2, "i1", "n1", "lb") + block("b", 2, "i1", "n2", "lb")
    plan = preview(nodes, h100(3))
    assert not plan.fits
    assert [(s.values, s.pods) for s in plan.domains] == [
        (("i1", "n1", "lb"), 2),
        (("i1", "n2", "lb"), 2),
    ]
    assert preview(nodes, h100(3, mode="preferred")).level == HPC_ISLAND


def test_required_best_fit_takes_the_smallest_domain_that_fits() -> None:
    nodes = (
        block("d", 4, "i2", "n9", "also-tight")  # first seen, yet loses the tie below
        + block("a", 8, "i1", "n1", "big")
        + block("b", 5, "i1", "n1", "mid")
        + block("c", 4, "i1", "n2", "tight")
        + block("e", 3, "i1", "n1", "small")
    )
    plan = preview(nodes, h100(4))
    assert plan.domain == ("i1", "n2", "tight")  # 4 == 4; ties go to the lowest values path
    assert plan.domains[0].values == ("i1", "n1", "big")
    assert [s.assigned for s in plan.domains] == [0, 0, 4, 0, 0]
    assert preview(nodes, h100(5)).domain == ("i1", "n1", "mid")
    assert preview(nodes, h100(6)).domain == ("i1", "n1", "big")
    assert preview(nodes, h100(13, "network_block")).domain == ("i1", "n1")


def test_assignment_goes_down_with_best_fit_for_the_remainder() -> None:
    # network block n1: local blocks of 3, 2 and 1 pods; 4 pods take 3, then the 1 (not the 2)
    nodes = block("a", 3, "i1", "n1", "l3") + block("b", 2, "i1", "n1", "l2")
    nodes += block("c", 1, "i1", "n1", "l1")
    plan = preview(nodes, h100(4, "network_block"))
    assert plan.assignment == {"a0": 1, "a1": 1, "a2": 1, "c0": 1}
    # hosts: capacities 2, 2, 1 (4 GPUs a pod); 3 pods take a 2, then the 1
    nodes = [node("x"), node("y"), node("z", used=4)]
    assert preview(nodes, h100(3, "host", "preferred", gpus=4)).assignment == {"x": 2, "z": 1}
    assert preview(nodes, h100(3, gpus=4)).assignment == {"x": 2, "z": 1}


def test_host_level_and_hostname_label() -> None:
    nodes = [
        Node("node-a", {**H100, HPC_ISLAND: "i", NETWORK_BLOCK: "n", LOCAL_BLOCK: "l"}, 8),
        Node("node-b", {**H100, HPC_ISLAND: "i", NETWORK_BLOCK: "n", LOCAL_BLOCK: "l",
                        HOSTNAME: "10-0-0-7"}, 16),
    ]  # fmt: skip
    plan = preview(nodes, h100(2, "host"))
    assert plan.domain == ("i", "n", "l", "10-0-0-7") and plan.assignment == {"node-b": 2}
    assert plan.reason.startswith("fits on host 10-0-0-7 (local block l, network block n, HPC")
    assert preview(nodes, h100(1, "host")).domain == ("i", "n", "l", "node-a")
    assert preview(nodes, h100(3, "host", "preferred")).level == LOCAL_BLOCK


def test_invalid_input_is_refused() -> None:
    for args in [(0, 8, "host", "required"), (1, 0, "host", "required"),
                 (1, 8, "rack", "required"), (1, 8, "host", "strict")]:  # fmt: skip
        with pytest.raises(InvalidError):
            PodSet(*args)
    with pytest.raises(InvalidError, match="twice"):
        preview([node("a"), node("a")], h100(1))


def test_render_shows_the_domains_and_the_assignment() -> None:
    nodes = block("a", 2, "i1", "n1", "l1") + block("b", 3, "i1", "n2", "l2")
    nodes.append(node("down", ready=False))
    text = preview(nodes, h100(2)).render(limit=1)
    lines = text.splitlines()
    assert lines[0].startswith("fits: fits in local block l1")
    assert lines[1] == f"level: {LOCAL_BLOCK}"
    assert lines[2].split() == ["LOCAL", "BLOCK", "(top", "level", "first)", "PODS", "FREE",
                                "GPUS", "NODES", "ASSIGNED"]  # fmt: skip
    assert lines[3].split() == ["i1", "/", "n2", "/", "l2", "3", "24", "3", "0"]
    assert lines[4].split() == ["i1", "/", "n1", "/", "l1", "2", "16", "2", "2"]  # used: shown
    assert lines[5] == "assignment (2 nodes): a0=1, a1=1"
    assert lines[6] == "1 node is not ready: down"
    lines = preview(nodes, h100(3)).render(limit=0).splitlines()
    assert lines[3].split() == ["i1", "/", "n2", "/", "l2", "3", "24", "3", "3"]
    assert lines[4:6] == ["  ... and 1 more", "assignment (3 nodes): b0=1, b1=1, b2=1"]
    many = block("m", 25, "i1", "n1", "big")
    assert preview(many, h100(25)).render().endswith("m3=1, m4=1 and 5 more")
    failed = preview(nodes, h100(9)).render()
    assert failed.startswith("does not fit: no local block") and "assignment" not in failed


# -- properties against the oracle -------------------------------------------------------------


@st.composite
def inventories(draw: st.DrawFn) -> list[Node]:
    nodes = []
    for i in range(draw(st.integers(1, 12))):
        labels = {
            HPC_ISLAND: draw(st.sampled_from(["i1", "i2"])),
            NETWORK_BLOCK: draw(st.sampled_from(["n1", "n2", "n3"])),
            LOCAL_BLOCK: draw(st.sampled_from(["l1", "l2"])),
            SHAPE: draw(st.sampled_from(["BM.GPU.H100.8"] * 5 + ["BM.GPU.A100-v2.8"])),
        }
        if draw(st.integers(0, 9)) == 0:
            del labels[draw(st.sampled_from(LEVELS[:-1]))]
        if draw(st.booleans()):
            labels[HOSTNAME] = f"host-{i}"
        used = draw(st.integers(0, 8))
        nodes.append(Node(f"node-{i}", labels, 8, used, draw(st.integers(0, 9)) > 0))
    return nodes


podsets = st.builds(
    PodSet,
    st.integers(1, 10),
    st.integers(1, 8),
    st.sampled_from(sorted(WITHIN)),
    st.sampled_from(["required", "preferred"]),
    st.sampled_from([{}, H100]),
)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(inventories(), podsets, st.randoms(use_true_random=False))
def test_matches_the_oracle_in_any_node_order(
    nodes: list[Node], podset: PodSet, rng: random.Random
) -> None:
    plan = preview(nodes, podset)
    check(nodes, podset, plan)
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    again = preview(shuffled, podset)
    assert (again.fits, again.level, again.domain, again.assignment, again.reason) == (
        plan.fits, plan.level, plan.domain, plan.assignment, plan.reason,
    )  # fmt: skip


@SETTINGS
@given(inventories(), st.integers(1, 10), st.integers(1, 8), st.sampled_from(sorted(WITHIN)))
def test_preferred_fits_whenever_required_does_and_at_the_same_place(
    nodes: list[Node], pods: int, gpus: int, within: str
) -> None:
    required = preview(nodes, PodSet(pods, gpus, within, "required"))
    preferred = preview(nodes, PodSet(pods, gpus, within, "preferred"))
    assert preferred.fits >= required.fits
    if required.fits:
        assert (preferred.level, preferred.domain, preferred.assignment) == (
            required.level, required.domain, required.assignment,
        )  # fmt: skip


@pytest.mark.parametrize("n_nodes", [1, 100, 2000])
def test_realistic_inventories(n_nodes: int) -> None:
    nodes = make_inventory(n_nodes, seed=n_nodes, unlabelled=0.01)
    assert len(nodes) == n_nodes
    for pods in (1, 4, 16, 64, 200):
        for within in ("local_block", "network_block", "hpc_island", "host"):
            for mode in ("required", "preferred"):
                podset = PodSet(pods, 8, within, mode, H100)
                check(nodes, podset, preview(nodes, podset))
    if n_nodes == 2000:
        plan = preview(nodes, PodSet(16, 8, "local_block", "required", H100))
        assert plan.fits and len(plan.domains) > 64 and len(plan.assignment) == 16
        assert preview(nodes, PodSet(900, 8, "local_block", "preferred", H100)).level is None
