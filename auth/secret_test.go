package auth

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "hunter2-VALUE"
	s := Secret(value)
	type wrapper struct {
		Password Secret
		Ptr      *Secret
	}
	w := wrapper{Password: s, Ptr: &s}

	var outputs []string
	for _, f := range []string{"%v", "%s", "%q", "%+v", "%#v", "%x", "%X", "%d", "%10s", "%-12v"} {
		outputs = append(outputs, fmt.Sprintf(f, s), fmt.Sprintf(f, w))
	}
	outputs = append(outputs, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString(), fmt.Sprintf("%+v", *w.Ptr))
	for _, v := range []any{s, w, map[string]Secret{"k": s}, []Secret{s}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, string(b))
	}
	txt, _ := s.MarshalText()
	outputs = append(outputs, string(txt))

	buf := &bufferLogger{}
	log := buf.Logger()
	log.Info("fields", zap.Any("any", s), zap.Stringer("stringer", s), zap.Reflect("reflect", s), zap.Any("struct", w))
	log.Sugar().Infow("sugared", "password", s)
	log.Sugar().Infof("formatted %v %s", s, s)
	outputs = append(outputs, buf.String())

	for _, o := range outputs {
		if strings.Contains(o, value) {
			t.Errorf("secret printed: %s", o)
		}
	}
	if got := fmt.Sprintf("%v|%q|%#v", s, s, s); got != `[redacted]|"[redacted]"|"[redacted]"` {
		t.Errorf("formats = %s", got)
	}
	if b, _ := json.Marshal(s); string(b) != `"[redacted]"` {
		t.Errorf("JSON = %s", b)
	}
	if !strings.Contains(buf.String(), `"any":"[redacted]"`) {
		t.Errorf("zap.Any did not log the plain redacted string: %s", buf.String())
	}
	if s.Reveal() != value {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

func TestSecretUnsetPrintsEmpty(t *testing.T) {
	var s Secret
	if got := fmt.Sprintf("%v|%s|%q", s, s, s); got != `||""` {
		t.Errorf("formats = %s", got)
	}
	if b, _ := json.Marshal(s); string(b) != `""` {
		t.Errorf("JSON = %s", b)
	}
	if s.IsSet() {
		t.Error("IsSet on empty secret")
	}
}
