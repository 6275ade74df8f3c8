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
package pipeline
