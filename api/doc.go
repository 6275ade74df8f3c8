// Package api speaks the Dragonfly mainframe's wire contract (docs/contract.md) in
// both of its eras: the typed bodies, the three calls a worker makes (fetch
// rules, lease jobs, submit a result) with the status table that decides what
// is final and what is retried, and the downloader that fetches
// distributions.
//
// Mainframe calls carry credentials (package auth) and never follow
// redirects; downloads go to any host, follow at most five redirects and
// never carry credentials, so that a token cannot leak to a file host.
package api
