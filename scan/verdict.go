package scan

import (
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Verdict is the meaning of one job's distributions: a success (Reason
// empty) or a failure. It is what the mainframe body (api.Result) and the
// local report are made of; scan knows nothing of jobs or leases.
type Verdict struct {
	Score        int64
	InspectorURL string // "" when no rule counted for any file
	RulesMatched []string

	// Reason makes the verdict a failure; a failure carries no score, so
	// the reason itself reports partial findings.
	Reason string
}

// Failed reports whether v is a failure.
func (v Verdict) Failed() bool { return v.Reason != "" }

// MaxReasonLen bounds a failure reason, in bytes.
const MaxReasonLen = 1000

// ClampScore bounds a score to PostgreSQL's int4, the mainframe's column.
func ClampScore(s int64) int64 {
	return min(max(s, math.MinInt32+1), math.MaxInt32)
}

// Compose turns the distributions of one job into its verdict. dists must
// be in the job's order; name and version build the inspector URL. The job succeeds only when every distribution is
// complete; otherwise the reason starts with the class of the first failed
// distribution's cause, names it, and ends with the partial findings.
func Compose(name, version string, dists []*DistResult) Verdict {
	var res Verdict
	if len(dists) == 0 {
		res.Reason = ErrNoDistribution.Error()
		return res
	}
	seen := map[string]bool{}
	var failed *DistResult
	for _, d := range dists {
		res.Score = max(res.Score, d.Score)
		for _, r := range d.Rules {
			if !seen[r.Name] {
				seen[r.Name] = true
				res.RulesMatched = append(res.RulesMatched, r.Name)
			}
		}
		if d.Err != nil && failed == nil {
			failed = d
		}
	}
	sort.Strings(res.RulesMatched)
	if res.RulesMatched == nil {
		res.RulesMatched = []string{}
	}
	if failed != nil {
		res.Reason = failureReason(failed, res.Score, res.RulesMatched)
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

// failureReason formats "class: distribution: detail; partial score N: a, b"
// within MaxReasonLen, cutting the detail before the findings.
func failureReason(d *DistResult, score int64, rules []string) string {
	class := Class(d.Err)
	msg := d.Err.Error()
	head := msg
	if class != nil {
		head = class.Error() + ": " + distName(d.Target) + ": " + strings.TrimPrefix(msg, class.Error()+": ")
	}
	findings := "; partial score " + strconv.FormatInt(ClampScore(score), 10)
	if len(rules) > 0 {
		list := ""
		for i, r := range rules {
			more := ""
			if rest := len(rules) - i - 1; rest > 0 {
				more = ", and " + strconv.Itoa(rest) + " more"
			}
			if len(findings)+len(list)+len(r)+2+len(more) > MaxReasonLen/2 && i > 0 {
				list += ", and " + strconv.Itoa(len(rules)-i) + " more"
				break
			}
			if i > 0 {
				list += ", "
			}
			list += r
		}
		findings += ": " + list
	}
	if room := MaxReasonLen - len(findings); len(head) > room {
		head = truncateUTF8(head, room-3) + "..."
	}
	return head + findings
}

func truncateUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// distName is the file name of a distribution URL or path, without a
// query string (which may hold a signature).
func distName(target string) string {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	return DisplayName(path.Base(target))
}
