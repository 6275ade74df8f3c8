// Package yarasrc reads YARA rule sources without compiling them: where
// each rule is defined, its metadata with their literal types, the rules
// its condition names, the strings its condition cannot be true without
// (Covers) and the byte sequences every match of a string contains
// (RuleDef.Needles). libyara reports none of this, yet rule plans, the
// prefilter and the rules check all need it.
//
// It is pure Go and reads rules the mainframe sends, so it must never panic
// or hang on any input (FuzzParse); where it is unsure it says less (no
// cover, no needle), which costs speed and never a match.
package yarasrc
