package main

import "flag"

// parseInterspersed parses args with fs, accepting flags before and after
// the arguments (Go's flag package stops at the first argument); "--" ends
// the flags. It returns the arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var out []string
	for {
		if err := fs.Parse(args); err != nil {
			return out, err
		}
		rest := fs.Args()
		consumed := args[:len(args)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(out, rest...), nil
		}
		if len(rest) == 0 {
			return out, nil
		}
		out = append(out, rest[0])
		args = rest[1:]
	}
}
