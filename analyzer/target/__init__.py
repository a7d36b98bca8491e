"""Target: where and how a model runs. `resolve_target` turns options and profiles into one frozen `Target`
(hardware, dtype, runtime, batch, phase, and the `Site`: PUE, grid intensity, the hardware's busy share, the
embodied-carbon policy), each value with its provenance and every default said; `resolve_search_site` gives a
search's site. The only place that reads a datacenter's PUE or a region's intensity from the profiles."""

from .records import EMBODIED_POLICIES, Phase, Serving, Site, SiteRequest, Target, TargetRequest
from .resolve import (region_intensity, resolve_phase, resolve_search_site, resolve_site, resolve_target, serving_defaults,
                      serving_target)

__all__ = ["EMBODIED_POLICIES", "Phase", "Serving", "Site", "SiteRequest", "Target", "TargetRequest", "region_intensity", "resolve_phase", "resolve_search_site",
           "resolve_site", "resolve_target", "serving_defaults", "serving_target"]
