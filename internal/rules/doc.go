// Package rules compiles YARA rule sets and matches bytes against them
// with as little work as the results allow: a RuleSet is compiled once and
// shared, each goroutine matches through its own Matcher, rule plans
// (ruleplan.go, plans.go) match a file only with the rules that can count
// for its path, and the prefilter (prefilter.go) skips libyara for a file
// that holds none of the byte sequences the rules need. None of these
// changes a result; the scanner's lever tests compare with and without
// each. What the plans and the prefilter know of the rules comes from their
// source text, read by package yarasrc.
package rules
