// Package scan scans Python distributions: it flattens each one in memory
// (package archive), matches every file against a rule set (package
// rules), remembers what identical files matched (Cache), and composes a
// job's verdict from its distributions (Compose). The daemon and the
// command line both build their scanners here, with one constructor (New)
// and one set of switches (Speed); it performs no network or disk I/O.
// Every speed lever keeps results identical: levers_test.go scans with
// each on and off and wants the same results.
package scan
