package rules

import (
	"fmt"
	"strings"
	"testing"
)

func TestRulePlansOffWhenUnsure(t *testing.T) {
	for name, sources := range map[string]map[string]string{
		"no filetype": {"a": `rule a { strings: $a = "x" condition: $a }`},
		"64+ suffixes": func() map[string]string {
			var b strings.Builder
			for i := range 65 {
				fmt.Fprintf(&b, "rule r%d { meta: filetype = \".x%d\" condition: true }\n", i, i)
			}
			return map[string]string{"a": b.String()}
		}(),
	} {
		rs, err := Compile("", sources)
		if err != nil {
			t.Fatal(err)
		}
		if p := rs.plans.init(rs); p.off == "" {
			t.Errorf("%s: plans on", name)
		}
		rs.Close()
	}
}
