// Package scan is the pure scanning core of the Dragonfly client: it flattens
// PyPI distributions in memory (zip, wheel, egg, and gzip/bzip2/xz tarballs,
// nested archives included), matches every file against a compiled YARA rule
// set and scores the result the way the Dragonfly mainframe expects.
//
// It performs no network or disk I/O of its own and imports nothing else of
// this module, so that the daemon, the command line and tests can all use it
// as a library. Every limit is checked while reading, so hostile input ends
// in a classified error (see [Class]) and never in a panic, a hang, or a
// partial result that reads as clean.
package scan
