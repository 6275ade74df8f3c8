// Package localscan is what "dragonfly scan" does beyond its flags: it
// finds the distributions named on the command line (files, folders
// searched for distribution files, http(s) URLs), reads or downloads
// them, scans them on a pool of [scan.Scanner]s, and groups the results
// into packages by the PyPI names of their files.
package localscan
