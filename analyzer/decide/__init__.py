"""Decide: what the evaluations mean. Ranking and Pareto fronts (rank.py, ranking.py), the pair a search is judged
on (pairing.py), amortisation of a search's cost over reuse with its uncertainty (amortize.py), what would flip
the verdict (sensitivity.py), and the main job as one call, analyze(request) -> Analysis (analysis.py)."""
