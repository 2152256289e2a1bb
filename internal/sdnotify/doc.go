// Package sdnotify tells systemd how the daemon is doing (Type=notify):
// Notify sends state lines (READY=1, STATUS=..., WATCHDOG=1) to
// $NOTIFY_SOCKET, and WatchdogPeriod says how often systemd wants the
// watchdog ping. Outside systemd both do nothing. The protocol is
// sd_notify(3): one datagram of newline-separated KEY=VALUE lines.
package sdnotify
