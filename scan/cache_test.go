package scan

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

func cacheKeyOf(shard, n byte, rules string) cacheKey {
	k := cacheKey{rules: rules}
	k.sum[0], k.sum[1] = shard, n
	return k
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	// One shard holds 4 entries without indices.
	c := NewCache(cacheShards * 4 * cacheEntryCost)
	keys := make([]cacheKey, 6)
	for i := range keys {
		keys[i] = cacheKeyOf(3, byte(i), "h")
	}
	for _, k := range keys[:4] {
		c.put(&k, 10, nil, nil)
	}
	if _, ok := c.get(&keys[0], 10, nil, nil); !ok { // 0 is now the most recent
		t.Fatal("miss on a fresh entry")
	}
	c.put(&keys[4], 10, nil, nil) // evicts 1
	c.put(&keys[5], 10, nil, nil) // evicts 2
	for i, want := range []bool{true, false, false, true, true, true} {
		if _, ok := c.get(&keys[i], 10, nil, nil); ok != want {
			t.Errorf("entry %d cached = %v, want %v", i, ok, want)
		}
	}
	st := c.Stats()
	if st.Entries != 4 || st.Evictions != 2 || st.Bytes > st.MaxBytes/cacheShards {
		t.Errorf("stats %+v", st)
	}
	// Another shard is untouched by the first one's pressure.
	other := cacheKeyOf(4, 0, "h")
	c.put(&other, 10, []int32{1}, nil)
	if _, ok := c.get(&other, 10, nil, nil); !ok {
		t.Error("other shard lost its entry")
	}
}

func TestCacheKeyAndCoverage(t *testing.T) {
	c := NewCache(0)
	k := cacheKeyOf(1, 1, "rules-a")
	// Rules 1 and 5, and rules 5 and 66, of 70 (Bits holds a bit per rule,
	// 64 to a word; its setter is the rules package's own).
	a := rules.Bits{1<<1 | 1<<5, 0}
	b := rules.Bits{1 << 5, 1 << (66 - 64)}
	c.put(&k, 70, []int32{1, 5}, a)

	// Another rule set, or a set of another size under the same hash, never
	// sees the entry.
	other := cacheKeyOf(1, 1, "rules-b")
	if _, ok := c.get(&other, 70, a, nil); ok {
		t.Error("hit across rule sets")
	}
	if _, ok := c.get(&k, 71, nil, nil); ok {
		t.Error("hit for a rule set of another size")
	}
	// Exact for a, so not for b nor for every rule.
	if _, ok := c.get(&k, 70, b, nil); ok {
		t.Error("hit for rules the entry is not exact for")
	}
	if _, ok := c.get(&k, 70, nil, nil); ok {
		t.Error("hit for the whole set")
	}
	got, ok := c.get(&k, 70, a, []int32{42})
	if !ok || !slices.Equal(got, []int32{42, 1, 5}) {
		t.Fatalf("get = %v %v", got, ok)
	}
	// Matches exact for b join: the entry is exact for a and b.
	c.put(&k, 70, []int32{5, 66}, b)
	for _, need := range []rules.Bits{a, b} {
		if got, ok := c.get(&k, 70, need, nil); !ok || !slices.Equal(got, []int32{1, 5, 66}) {
			t.Errorf("after union: get = %v %v", got, ok)
		}
	}
	// The whole set's matches replace it.
	c.put(&k, 70, []int32{1, 5, 66, 69}, nil)
	if got, ok := c.get(&k, 70, nil, nil); !ok || !slices.Equal(got, []int32{1, 5, 66, 69}) {
		t.Errorf("whole: get = %v %v", got, ok)
	}
	if got, ok := c.get(&k, 70, a, nil); !ok || len(got) != 4 {
		t.Errorf("whole serves a plan: get = %v %v", got, ok)
	}
	if st := c.Stats(); st.Entries != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A file whose matching fails is not cached: it fails again, from the
// cache's scanner and any other.
func TestCacheNeverKeepsFailures(t *testing.T) {
	flood := fixture.ZipFiles(t, fixture.File("pkg/flood.txt", strings.Repeat("Q", rules.MatchLimit+10)))
	src := map[string]string{"flood": `rule flood { meta: weight = 1 strings: $a = "Q" condition: $a }`}
	lim := leverLimits()
	c := NewCache(0)
	for i := range 2 {
		s := fxScannerWith(t, src, Options{Limits: lim, Speed: DefaultSpeed(), Cache: c})
		if res := s.Scan(context.Background(), "x.whl", flood); failure.Class(res.Err) != failure.ErrTimeout {
			t.Fatalf("pass %d: err %v, want the match limit", i, res.Err)
		}
	}
	// The member's entry says what it expands to, whatever the matching.
	if st := c.Stats(); st.Hits != 0 || st.Entries != 1 || st.Misses != 2 || st.MemberHits != 1 {
		t.Errorf("stats %+v", st)
	}
	k := cacheKey{sum: sha256.Sum256([]byte(strings.Repeat("Q", rules.MatchLimit+10)))}
	if _, ok := c.get(&k, 1, nil, nil); ok {
		t.Error("failed file cached")
	}
}
