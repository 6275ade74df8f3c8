package membuf

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
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

// smapsEntry returns the /proc/self/smaps lines of the mapping that starts
// at addr.
func smapsEntry(t *testing.T, addr uintptr) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	start := strconv.FormatUint(uint64(addr), 16) + "-"
	entry := map[string]string{}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping's header line
			if in {
				break
			}
			in = strings.HasPrefix(fields[0], start)
			continue
		}
		if in {
			entry[strings.TrimSuffix(fields[0], ":")] = strings.Join(fields[1:], " ")
		}
	}
	if !in {
		t.Fatalf("no mapping at %x in /proc/self/smaps", addr)
	}
	return entry
}

// A large buffer asks for huge pages and arrives resident and zeroed.
func TestLargeBuffersAskForHugePages(t *testing.T) {
	const n = 16 << 20
	b, err := Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	defer Free(b)
	entry := smapsEntry(t, uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	if mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err == nil && !strings.Contains(string(mode), "[never]") {
		if !strings.Contains(" "+entry["VmFlags"]+" ", " hg ") {
			t.Errorf("VmFlags %q: the mapping did not ask for huge pages", entry["VmFlags"])
		}
	}
	rssKB, _ := strconv.Atoi(strings.TrimSuffix(entry["Rss"], " kB"))
	if probe, err := Alloc(HugeThreshold); err == nil {
		supported := unix.Madvise(probe, unix.MADV_POPULATE_WRITE) == nil
		Free(probe)
		if supported && rssKB < n/1024 {
			t.Errorf("Rss %d kB of %d: the buffer was not populated", rssKB, n/1024)
		}
	}
	if !bytes.Equal(b[:4096], make([]byte, 4096)) || !bytes.Equal(b[n-4096:], make([]byte, 4096)) {
		t.Error("not zeroed")
	}
	b[n-1] = 1 // writable to the end
}
