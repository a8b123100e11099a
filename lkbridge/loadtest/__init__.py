"""`lkbridge loadtest`'s parts: locust scenarios (scenarios.py, run by locust in its own
process), the stack they meet (stack.py, devices.py), the gates, the summary and the soak page.
Installed with the `load` extra (locust); nothing here is imported by the bridge itself."""
