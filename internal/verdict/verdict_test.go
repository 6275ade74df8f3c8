package verdict

import (
	"slices"
	"testing"
)

func TestDistinctSortsDropsRepeatsAndIsNeverNil(t *testing.T) {
	if got := Distinct([]string{"b", "a", "b", "c", "a"}); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("got %q", got)
	}
	if got := Distinct(nil); got == nil || len(got) != 0 {
		t.Errorf("Distinct(nil) = %#v, want an empty list", got)
	}
}
