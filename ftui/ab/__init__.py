"""Experiments: sticky assignment, outcomes, statistics, the arena, and the gateway.

For chat apps that integrate directly (without the gateway)::

    from ftui.ab import assign, log_outcome
    arm = assign(store, "assistant-v2", user_id)       # .arm "A"/"B", .model
    ...
    log_outcome(store, "assistant-v2", user_id, interaction_uid, rating=4, latency=812, tokens=90)
"""

from ftui.ab.experiments import (
    Assigned,
    assign,
    create_experiment,
    get_experiment,
    list_experiments,
    log_outcome,
    set_split,
    set_status,
)

__all__ = ["Assigned", "assign", "create_experiment", "get_experiment", "list_experiments",
           "log_outcome", "set_split", "set_status"]
