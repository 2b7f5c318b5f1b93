"""The claim assume cache (spec/cluster-mode.md section 3; upstream's
`pkg/scheduler/util/assumecache`): which version of each ResourceClaim the scheduler counts.

Three sources can disagree about a claim while a pod is being bound:

- the informer: what the server last said on the watch;
- a claim *in flight*: Reserve allocated it in memory for a pod whose binding cycle has not
  written it yet; until PreBind ends, on success or failure, the informer's versions of it
  are kept aside and not applied, or the devices would look free to the next cycle;
- a claim *assumed* after a successful write: the object the server returned. An informer
  event older than it (resourceVersion parsed as an integer) is not applied; an equal or
  newer one replaces it. An RV that is not an integer disables assuming for that claim.

`ClaimAssumeCache` decides which version wins; the caller (`mirror.py`) applies the winner to
the scheduler cache. Pure bookkeeping, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from dralloc.kube.client import KubeDict


def _rv(obj: KubeDict | None) -> int | None:
    if obj is None:
        return None
    try:
        return int(obj.get("metadata", {}).get("resourceVersion", ""))
    except ValueError:
        return None


@dataclass
class _InFlight:
    pod_uid: str
    informer: KubeDict | None  # the informer's latest version, kept aside
    deleted: bool = False


class ClaimAssumeCache:
    """Claim keys (`namespace/name`) in flight and assumed."""

    def __init__(self) -> None:
        self._in_flight: dict[str, _InFlight] = {}
        self._assumed: dict[str, KubeDict] = {}
        # The raw objects as the scheduler counts them: informer's or assumed; what PreBind
        # starts from (its first attempt uses the cached claim, spec 4.1).
        self.latest: dict[str, KubeDict] = {}

    # -- the informer's side ---------------------------------------------------------------

    def informer_update(self, key: str, obj: KubeDict) -> bool:
        """The informer saw `obj`. True when the scheduler should apply it now."""
        flight = self._in_flight.get(key)
        if flight is not None:
            flight.informer = obj
            flight.deleted = False
            return False
        assumed = self._assumed.get(key)
        if assumed is not None:
            old, new = _rv(assumed), _rv(obj)
            if old is not None and new is not None and new < old:
                return False
            del self._assumed[key]
        self.latest[key] = obj
        return True

    def informer_delete(self, key: str) -> bool:
        """The claim was deleted. True when the scheduler should drop it now."""
        flight = self._in_flight.get(key)
        if flight is not None:
            flight.deleted = True
            flight.informer = None
            return False
        self._assumed.pop(key, None)
        self.latest.pop(key, None)
        return True

    # -- the scheduler's side --------------------------------------------------------------

    def in_flight_for(self, key: str) -> str | None:
        """The uid of the pod whose binding holds the claim in flight, if any."""
        flight = self._in_flight.get(key)
        return flight.pod_uid if flight is not None else None

    def reserve(self, key: str, pod_uid: str) -> None:
        """Reserve allocated `key` in memory for `pod_uid`: hold informer events back."""
        if key not in self._in_flight:
            self._in_flight[key] = _InFlight(pod_uid, self.latest.get(key))

    def assume(self, key: str, written: KubeDict) -> None:
        """A write of the claim succeeded: count what the server returned."""
        if _rv(written) is not None:
            self._assumed[key] = written
        self.latest[key] = written

    def release(self, key: str) -> KubeDict | None:
        """PreBind ended (either way): the claim leaves flight. Returns the version to apply
        now: the assumed one when the write succeeded, else the informer's (None: the claim
        was deleted meanwhile, or never seen)."""
        flight = self._in_flight.pop(key, None)
        if flight is None:
            return self.latest.get(key)
        assumed = self._assumed.get(key)
        if flight.deleted:
            self._assumed.pop(key, None)
            self.latest.pop(key, None)
            return None
        seen = flight.informer
        if assumed is not None and (seen is None or (_rv(seen) or 0) < (_rv(assumed) or 0)):
            self.latest[key] = assumed
            return assumed
        self._assumed.pop(key, None)
        if seen is not None:
            self.latest[key] = seen
        return seen

    def __contains__(self, key: str) -> bool:
        return key in self.latest
