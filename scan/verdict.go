package scan

import (
	"path"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/redact"
	"github.com/vipyrsec/dragonfly-client-go/internal/verdict"
)

// Compose turns the distributions of one job into its verdict. dists must
// be in the job's order; name and version build the inspector URL. The job
// succeeds only when every distribution is complete; otherwise the failure
// is the first failed distribution's cause, and the score and rules are the
// partial findings of all of them.
func Compose(name, version string, dists []*DistResult) verdict.Verdict {
	var res verdict.Verdict
	if len(dists) == 0 {
		res.Failure = &verdict.Failure{Class: failure.ErrNoDistribution}
		return res
	}
	var names []string
	var failed *DistResult
	for _, d := range dists {
		res.Score = max(res.Score, d.Score)
		for _, r := range d.Rules {
			names = append(names, r.Name)
		}
		if d.Err != nil && failed == nil {
			failed = d
		}
	}
	res.RulesMatched = verdict.Distinct(names)
	if failed != nil {
		class := failure.Class(failed.Err)
		f := &verdict.Failure{Class: class, Dist: distName(failed.Target), Detail: failed.Err.Error()}
		if class != nil {
			f.Detail = strings.TrimPrefix(f.Detail, class.Error()+": ")
		}
		res.Failure = f
		return res
	}
	res.InspectorURL = inspectorFor(name, version, dists)
	return res
}

// inspectorFor points at the highest-scoring file of the highest-scoring
// distribution that has any counted file; ties go to the earlier one.
func inspectorFor(name, version string, dists []*DistResult) string {
	var best *DistResult
	for _, d := range dists {
		if len(d.Files) > 0 && (best == nil || d.Score > best.Score) {
			best = d
		}
	}
	if best == nil {
		return ""
	}
	file := &best.Files[0]
	for i := range best.Files {
		if best.Files[i].Score > file.Score {
			file = &best.Files[i]
		}
	}
	u, err := InspectorURL(best.Target, name, version, file.Path)
	if err != nil {
		return ""
	}
	return u
}

// distName is the file name of a distribution URL or path, without a
// query string (which may hold a signature).
func distName(target string) string {
	return archive.DisplayName(path.Base(redact.Query(target)))
}
