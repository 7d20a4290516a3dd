"""The autopilot (issue 14): a policy ($FTUI_HOME/autopilot.toml), cycles recorded in the
store, and a state machine that retrains, gates, deploys, experiments and promotes or rolls
back, one step at a time."""

from ftui.autopilot.machine import Context, Step, advance, plan, retry_cycle, undo_cycle
from ftui.autopilot.policy import Policy, init_policy, load_policy, parse_policy, policy_path
from ftui.autopilot.runner import holding_lock, once, run, status
from ftui.autopilot.state import set_paused

__all__ = ["Context", "Policy", "Step", "advance", "holding_lock", "init_policy", "load_policy",
           "once", "parse_policy", "plan", "policy_path", "retry_cycle", "run", "set_paused",
           "status", "undo_cycle"]
