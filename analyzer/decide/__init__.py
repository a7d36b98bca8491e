"""Decide: what the evaluations mean, and the use cases the commands call. Ranking and Pareto fronts (rank.py,
ranking.py), the pair a search is judged on (pairing.py), amortisation of a search's cost over reuse with its
uncertainty (amortize.py), what would flip the verdict (sensitivity.py). The use cases, each a frozen request record
in and a result record out, which the CLI parses into and renders from: the main job analyze(request) -> Analysis
(analysis.py), amortize_search (amortize_case.py, whose amortize_pair analyze ends in too), plan_search
(plan_case.py), calibrate (calibrate_case.py), footprint and fourms (carbon_case.py)."""
