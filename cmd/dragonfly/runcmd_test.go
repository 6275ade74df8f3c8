package main

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestRunExit: a drain exits 0; a broken pipeline (Run's only error) is
// logged as an error and exits with a code of its own, so that the
// supervisor restarts the worker and the operator can tell why.
func TestRunExit(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	if code := runExit(log, nil); code != exitOK {
		t.Errorf("drained: exit %d", code)
	}
	broken := errors.New("internal error in the submit stage: a bug")
	if code := runExit(log, broken); code != exitBroken {
		t.Errorf("broken: exit %d, want %d", code, exitBroken)
	}
	got := logs.AllUntimed()
	if len(got) != 2 || got[0].Message != "drained; exiting" || got[0].Level != zapcore.InfoLevel ||
		got[1].Message != "the pipeline stopped" || got[1].Level != zapcore.ErrorLevel ||
		got[1].ContextMap()["error"] != broken.Error() {
		t.Errorf("logs %+v", got)
	}
	for _, other := range []int{exitOK, exitInterrupted, exitConfig} {
		if other == exitBroken {
			t.Errorf("exit %d already means something else", other)
		}
	}
}
