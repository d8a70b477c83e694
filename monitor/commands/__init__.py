"""What each `marginwatch` command does, by group; the command line itself (arguments, help,
exit statuses, `main`) is `monitor/cli.py`, which dispatches to the `cmd_*` functions here:
`recordings` (calc, whatif, replay, simulate: commands that read a recording) and `service`
(run, shard, record, check-config, test-alert, ack/snooze/unsnooze, demo, watch: commands that
run the daemon, read its config or talk to it).
"""
