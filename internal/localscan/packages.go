package localscan

import (
	"path/filepath"

	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// Package is the distributions of one release: the targets whose file
// names give the same (normalised) project name and version.
type Package struct {
	Name, Version string
	Dists         []*scan.DistResult
}

// GroupPackages groups dists (dists[i] the result of targets[i]) into
// packages by the name and version of their file names, in the order
// packages first appear. A target whose file name cannot be parsed is a
// package of its own, named by its base name, with no version.
func GroupPackages(targets []string, dists []*scan.DistResult) []*Package {
	var out []*Package
	index := map[string]*Package{}
	for i, t := range targets {
		name, version, ok := ParseDistName(ShownTarget(t))
		key := name + "\x00" + version
		if !ok {
			name, version, key = filepath.Base(ShownTarget(t)), "", "\x01"+t
		}
		p := index[key]
		if p == nil {
			p = &Package{Name: name, Version: version}
			index[key] = p
			out = append(out, p)
		}
		p.Dists = append(p.Dists, dists[i])
	}
	return out
}
