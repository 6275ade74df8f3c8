// Package builtin holds the client's built-in YARA rules, so that the
// command line can scan without a mainframe and a newcomer gets a useful
// verdict out of the box.
//
// The rules live in *.yar files next to this one, grouped by theme, and are
// embedded into the binary: nothing is read from disk at run time, and
// "go build" is all it takes to ship them. [Sources] returns them in exactly
// the shape the mainframe's GET /rules returns (file name without the
// extension mapped to the file's source), so that built-in and downloaded
// rules go through the same rules.Compile and score the same way.
//
// Each file is self-contained: its private helper rules carry the file's
// theme as a prefix and no rule refers to another file, so that any subset
// of the files compiles on its own and the files may be merged with the
// mainframe's without clashes of helper names. Every public rule has an
// integer "weight", a "description" and, where a match only means something
// in some files, a "filetype" of path suffixes.
package builtin

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

//go:embed *.yar
var files embed.FS

// Sources returns the built-in rules keyed by file name without the ".yar"
// extension. The map is new on every call, so the caller may change it (for
// example, merge rules of its own into it).
func Sources() map[string]string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		// The embedded directory always exists; this cannot happen.
		panic("builtin: " + err.Error())
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".yar" {
			continue
		}
		b, err := files.ReadFile(name)
		if err != nil {
			panic("builtin: " + err.Error())
		}
		out[strings.TrimSuffix(name, ".yar")] = string(b)
	}
	return out
}
