"""The run machinery: thread and run actors, the driver, the multitask strategy, jobs, recovery, drain, watchers, crons, webhooks."""
