"""`explain` agrees with `allocate` and with the oracle (hypothesis).

For each pending claim of a generated problem, alone on the node next to the committed claims:
the explanation says "fits" exactly when `allocate` finds an allocation, lists every device the
node can see for every request and subrequest, and calls a device "fits" exactly when the
oracle says that device could serve that (sub)request on its own. Every device of the actual
allocation is one that "fits".
"""

from __future__ import annotations

from allocation_model import Problem, fits_alone
from allocation_scenario import cluster_of, commit_prior
from allocation_strategies import problems
from hypothesis import HealthCheck, given, settings


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(problems(max_pending=1))
def test_explain_gives_the_oracle_verdict_for_every_device_and_agrees_with_allocate(
    problem: Problem,
) -> None:
    scenario = commit_prior(problem)
    (claim,) = problem.pending
    cluster = cluster_of(scenario.documents())
    results = cluster.allocate(node=problem.node, gates=problem.gates)
    explanation = cluster.explain(claim.name, node=problem.node, gates=problem.gates)
    assert explanation.error == ""
    assert explanation.fits == (results is not None)
    visible = {
        f"{d.driver}/{d.pool}/{d.name}": d
        for d in problem.devices
        if problem.slice_of(d).reachable_from(problem.node)
    }
    alternatives = {a.name: a for r in claim.requests for a in r.alternatives}
    assert [r.name for r in explanation.requests] == list(alternatives)
    for request in explanation.requests:
        alt = alternatives[request.name]
        verdicts = {v.device: v.verdict for v in request.devices}
        assert set(verdicts) == set(visible), request.name
        for name, verdict in verdicts.items():
            expected = fits_alone(
                problem, claim, alt, visible[name], problem.node, scenario.committed
            )
            assert (verdict == "fits") == expected, (request.name, name, verdict)
    if results is not None:
        by_request = {
            r.name: {v.device: v.verdict for v in r.devices} for r in explanation.requests
        }
        for entry in results[0].devices.results:
            device = f"{entry.driver}/{entry.pool}/{entry.device}"
            assert by_request[entry.request][device] == "fits"
