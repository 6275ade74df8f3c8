package api

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/vipyrsec/dragonfly-client-go/internal/verdict"
)

// The mainframe's rules for a result body: they live here, with the
// client, and nowhere in the scanner.

// MaxReasonLen bounds a failure reason, in bytes.
const MaxReasonLen = 1000

// ClampScore bounds a score to PostgreSQL's int4, the mainframe's column.
func ClampScore(s int64) int64 {
	return min(max(s, math.MinInt32+1), math.MaxInt32)
}

// Reason is the failure reason of a failed verdict, as the mainframe
// stores it: "class: distribution: detail; partial score N: a, b", within
// MaxReasonLen, the detail cut before the findings. A job without
// distributions is the bare class.
func Reason(v verdict.Verdict) string {
	f := v.Failure
	if f.Class != nil && f.Dist == "" && f.Detail == "" {
		return f.Class.Error()
	}
	head := f.Detail
	if f.Class != nil {
		head = f.Class.Error() + ": " + f.Dist + ": " + f.Detail
	}
	return reasonWithin(head, v.Score, v.RulesMatched)
}

// reasonWithin appends the partial findings to head and cuts head, then
// the list of rules, to stay within MaxReasonLen.
func reasonWithin(head string, score int64, rules []string) string {
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
