package rulescheck

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
)

// SampleSet is the corpus rules are timed on.
type SampleSet struct {
	Source  string   // what it is, for the report
	Samples []Sample // every file matched, inner files of archives included
	Notes   []string // archives that did not flatten completely
}

func (s *SampleSet) bytes() int64 {
	var n int64
	for _, x := range s.Samples {
		n += int64(len(x.Data))
	}
	return n
}

// LoadSamples reads the --sample paths, or the default corpus: the
// demo distributions or their sources when base (the working folder) is a
// checkout of this repository, else the generated corpus.
func LoadSamples(paths []string, base string) (*SampleSet, error) {
	if len(paths) > 0 {
		return ReadSamples(strings.Join(paths, ", "), paths)
	}
	for _, dir := range []string{filepath.Join(base, "samples", "dist"), filepath.Join(base, "samples", "src")} {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			s, err := ReadSamples(dir, []string{dir})
			if err == nil && len(s.Samples) > 0 {
				return s, nil
			}
		}
	}
	return &SampleSet{Source: "built-in generated corpus", Samples: SyntheticSamples()}, nil
}

// ReadSamples reads files and folders (recursively); archives are flattened
// with the scanner's limits and their files matched as a scan would.
func ReadSamples(source string, paths []string) (*SampleSet, error) {
	set := &SampleSet{Source: source}
	lim := archive.DefaultLimits()
	add := func(path string) error {
		data, err := readSample(path, lim.MaxScanSize)
		if err != nil {
			return err
		}
		var inner []Sample
		fl, err := archive.Flatten(context.Background(), data, lim, func(f *archive.File) error {
			if f.Data != nil {
				inner = append(inner, Sample{Path: filepath.ToSlash(path) + "/" + f.Path, Data: append([]byte(nil), f.Data...)})
			}
			return nil
		}, archive.Options{})
		if fl.Format == "" {
			set.Samples = append(set.Samples, Sample{Path: filepath.ToSlash(path), Data: data})
			return nil
		}
		if err != nil {
			set.Notes = append(set.Notes, fmt.Sprintf("%s: %v (its files up to there are used)", path, err))
		}
		set.Samples = append(set.Samples, inner...)
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--sample: %w", err)
		}
		if !st.IsDir() {
			if err := add(p); err != nil {
				return nil, fmt.Errorf("--sample: %w", err)
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			return add(path)
		})
		if err != nil {
			return nil, fmt.Errorf("--sample: %w", err)
		}
	}
	if len(set.Samples) == 0 {
		return nil, fmt.Errorf("--sample: no files in %s", source)
	}
	return set, nil
}

// readRulesSample reads one sample file, refusing one over limit bytes.
func readSample(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes", path, limit)
	}
	return data, nil
}
