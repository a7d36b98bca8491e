"""One accounting boundary for both sides of the ledger (issue #26). A search priced with system power per chip
(Patterson et al. 2021's figures include the host) weighed against serving priced with the GPU board alone, or a
die-only embodied figure against a server share, favours one side. The boundary is chosen once (profiles/
defaults.toml [boundary], or --power-boundary / --embodied-boundary) and every power and embodied figure is
brought to it here:

- power: `chip` (the accelerator alone) or `server` (the chip plus its host's share per accelerator: CPUs,
  memory, network, fans; the profile's `host_power_w`, sourced). A figure measured at one boundary (the
  profile's `avg_power_boundary`) is moved to the other by adding or removing that share.
- embodied: `chip` (die and package: a per-die-area figure where the profile has one), `card` (at least the
  Cloud Carbon Footprint's per-card figure), or `server` (the card plus the server's base embodied carbon
  shared by its `accelerators_per_server`, CCF's method). A profile whose figure is already a server share is
  taken as such; one step down removes the server's share.
"""

from __future__ import annotations

from ..profiles import HardwareProfile, defaults


def _d(key: str) -> float:
    return float(defaults()["boundary"][key].value)


def power_at(hw: HardwareProfile | None, watts: float, measured_at: str, boundary: str) -> tuple[float, list[str]]:
    """`watts` (a power figure measured at `measured_at`) at `boundary`, with a note when it moved or could not."""
    if hw is None or measured_at == boundary:
        return watts, []
    share = hw.host_power_w
    if share is None:
        return watts, [f"{hw.name} has no host power share in its profile: its {measured_at}-level power ({watts:g} W) is used "
                       f"at the {boundary} boundary as it is"]
    moved = watts + share.value if boundary == "server" else max(watts - share.value, 0.0)
    return moved, [f"{hw.name}: {watts:g} W at the {measured_at} boundary is {moved:g} W at the {boundary} boundary "
                   f"(host share {share.value:g} W per accelerator: {share.source})"]


def embodied_at(hw: HardwareProfile, boundary: str) -> tuple[float | None, str, list[str]]:
    """(kgCO2e per accelerator at `boundary`, how it was made, notes); None when the profile has no figure."""
    if hw.embodied_co2e_kg is None:
        return None, "", []
    kg, method = hw.embodied_co2e_kg.value, hw.embodied_method
    card, base = _d("card_embodied_co2e_kg"), _d("server_base_embodied_co2e_kg")
    n = hw.accelerators_per_server.value if hw.accelerators_per_server else _d("accelerators_per_server")
    share = base / n
    notes = [] if hw.accelerators_per_server else [
        f"{hw.name}: no accelerators per server in its profile; its server share assumes {n:g}"]
    if method == "per server share":
        chip_card = max(kg - share, 0.0)
        if boundary == "server":
            return kg, method, notes
        return chip_card, f"{method} less the server's share ({share:g} kg)", notes + (
            [f"{hw.name}: no die figure; its card is counted at the chip boundary"] if boundary == "chip" else [])
    # a die or card figure
    if boundary == "chip":
        return kg, method, []
    card_kg = max(kg, card)
    if boundary == "card":
        return card_kg, f"{method}, at least CCF's {card:g} kg per card", []
    return card_kg + share, f"{method}, at least CCF's {card:g} kg per card, plus {base:g} kg per server / {n:g}", notes
