package main

import (
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
)

// TestVersionNamesTheInflatePath: "inflate go" in a plain build, "inflate
// isa-l 2.30.0" (the headers' version) with the tag isal.
func TestVersionNamesTheInflatePath(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != exitOK || !strings.HasSuffix(out, ", inflate "+archive.InflateImpl+")\n") {
		t.Fatalf("%d %q", code, out)
	}
	if archive.InflateImpl != "go" && !strings.HasPrefix(archive.InflateImpl, "isa-l ") {
		t.Errorf("InflateImpl %q", archive.InflateImpl)
	}
}
