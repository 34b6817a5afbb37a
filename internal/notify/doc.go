// Package notify tells people when a mirror's topics stall, stop or fall
// behind: webhooks (with an optional body template, for Slack, Teams,
// Google Chat or PagerDuty) and Prometheus Alertmanager.
//
// # Data flow
//
// The Service reads the evaluator's judgement (status.Evaluator.Latest), at
// most once per Options.Every and only when its Generation changed; it never
// runs in the collection path. Each notifier has its own incident Machine (a
// pure state machine, one incident per mirror and topic), its own bounded
// queue and its own delivery goroutine, so a slow or dead receiver delays
// neither ticks nor documents nor the other receivers.
//
// # Incidents
//
// An incident fires when the topic's status reaches min_status and has held
// for `for`; a change of status while firing is sent as an update once the
// new status has held for `for`; it resolves when the status falls below
// min_status for `for`. Nothing is sent while nothing changes, except the
// repeat (webhook) or the re-send every minute (Alertmanager, which resolves
// alerts that are not re-sent).
//
// # Bounds
//
// A queue holds at most QueueLen incidents; a newer state of an incident
// replaces the queued one (counted as dropped, reason superseded) and
// makes it the newest, and when the queue is full the incident whose
// queued message is the oldest is dropped (reason full): the newest state
// of every incident is kept over a stale one.
//
// # Delivery
//
// At least once: 5xx, 429 (its Retry-After honoured), 408, timeouts and
// connection errors are retried with exponential backoff from 1 s, capped
// at 1 min, for up to 10 min; then the loss is logged and counted (failed,
// reason expired). Any other answer outside 2xx is a permanent failure,
// logged with the receiver's answer (failed, reason rejected).
//
// # Durability
//
// The firing incidents and the undelivered messages of every notifier are
// kept in a small JSON state file inside the Elasticsearch spool directory
// (StatePath; one left next to it by an older lagship is moved in), written
// atomically (temporary file, fsync, rename, fsync of the directory)
// whenever they change, at most once per Options.Every, and at shutdown. A
// restart neither re-sends an incident already sent nor forgets to resolve
// it. While the evaluator, which starts afresh, has not yet observed a whole
// window (Options.Settle), a restored incident resolves only on OK and is
// not downgraded; so does every firing incident for a window after a
// reload.
//
// # Agent groups
//
// In a group of agents (Options.Shared, Own), only a topic's owner judges
// it and notifies for it, and each owned topic's firing incidents are also
// kept in the group's shared state (one key per notifier, mirror and
// topic, notify/<notifier>/<mirror>/<topic>; written when the incident
// changes, deleted when it ends; after a failed read or write the shared
// state is left alone for 5 s, so the judging loop never waits long). A topic lost to another agent has its incidents dropped without
// a message; a topic gained is not judged until its incidents are loaded
// from the shared state (at most 30 s while it cannot be read), which then
// replaces what the local state file remembers of it, and the adopted
// incidents settle as restored ones do: the new owner's evaluator starts
// from an empty window.
//
// # Secrets
//
// Receiver URLs are secrets: logs and errors show only their scheme and
// host. Header values are never logged. A receiver's answer (logged, and
// shown by lagship notify test) often echoes the request, so the URL, its
// path and query, their long pieces and the header values are redacted
// from it, in any case and escaping, before it is cut to 512 bytes (see
// redactor).
package notify
