// Package pipeline is the worker daemon: it leases jobs from the mainframe,
// downloads their distributions, flattens and matches them, and submits one
// result per job.
//
// The stages run under one errgroup and are joined by buffered channels:
//
//	lease ─jobs─▶ download (D) ─blobs─▶ match (T) ─done─▶ submit
//	  ▲                                                     │
//	  └──────── a job slot is freed when its result is sent ┘
//
// Job slots, not a timer, decide when to lease: a leased job starts work at
// once instead of waiting in a queue while its lease runs out. Each producer
// closes its own channel, so a shutdown drains stage by stage.
//
// The errgroup carries one kind of error: a broken pipeline, an internal
// error (a recovered panic) in a stage's own work that no job owns, such as
// the lease loop or a submit. Retrying cannot mend it, so the errgroup
// cancels the other stages, the jobs in flight are abandoned to the
// mainframe as when a drain times out, and Run returns the error, naming
// the stage, for the command to exit non-zero and its supervisor to start
// a fresh worker. Everything else stays inside the stages: a job's own
// failure (a download, an archive, a panic on its files) is reported as its
// result, and a mainframe error is retried, because neither is mended by a
// restart and stopping for them would take a healthy worker down.
package pipeline
