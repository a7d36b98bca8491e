"""Account: energy becomes CO2e. Per item served (serving.py: facility energy x PUE, x the grid's intensity, plus
the hardware's embodied share), for a run of chips over hours (carbon.py, Patterson et al. 2021), for a past or
planned search (search_cost.py, search_plan.py), and decomposed into the 4Ms (fourms.py)."""
