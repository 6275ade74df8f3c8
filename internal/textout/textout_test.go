package textout

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		1<<20 - 1: "1024.0 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

type failAfter struct {
	strings.Builder
	left int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.left == 0 {
		return 0, errors.New("disk full")
	}
	f.left--
	return f.Builder.Write(p)
}

func TestErrWriterKeepsTheFirstError(t *testing.T) {
	w := &failAfter{left: 1}
	ew := &ErrWriter{W: w}
	fmt.Fprint(ew, "one ")
	fmt.Fprint(ew, "two ")
	fmt.Fprint(ew, "three")
	if ew.Err == nil || ew.Err.Error() != "disk full" || w.String() != "one " {
		t.Errorf("err %v, wrote %q", ew.Err, w.String())
	}
	if n, err := ew.Write([]byte("x")); n != 0 || err != ew.Err {
		t.Errorf("after the failure: %d, %v", n, err)
	}
}
