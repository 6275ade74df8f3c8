package membuf

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rss reads the process's resident set in bytes from /proc/self/statm.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm:", err)
	}
	pages, err := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

func TestFreeReturnsMemoryAtOnce(t *testing.T) {
	const n = 64 << 20
	before := rss(t)
	b, err := Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != n || !bytes.Equal(b[:4096], make([]byte, 4096)) {
		t.Fatalf("len %d or not zeroed", len(b))
	}
	for i := 0; i < n; i += 4096 {
		b[i] = 1 // touch every page
	}
	touched := rss(t)
	if touched-before < n*9/10 {
		t.Fatalf("RSS grew by %d touching %d bytes: the test cannot see the buffer", touched-before, n)
	}
	Free(b[:10]) // a resliced buffer frees the whole mapping
	if after := rss(t); touched-after < n*9/10 {
		t.Errorf("RSS fell by %d after Free of %d bytes", touched-after, n)
	}
}

func TestSmallBuffersAreTheHeaps(t *testing.T) {
	b, err := Alloc(Threshold - 1)
	if err != nil || len(b) != Threshold-1 {
		t.Fatal(len(b), err)
	}
	b[0] = 1
	Free(b) // nothing to do; must not panic
	Free(nil)
}

func TestFreeOfAForeignBufferPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("freeing a heap buffer of Threshold bytes did not panic")
		}
	}()
	Free(make([]byte, Threshold))
}
