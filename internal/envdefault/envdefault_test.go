package envdefault

import (
	"testing"
	"time"
)

func TestFillReadsTheTags(t *testing.T) {
	var c struct {
		N    int64         `env:"X_N" envDefault:"42"`
		D    time.Duration `env:"X_D" envDefault:"10s"`
		B    bool          `env:"X_B" envDefault:"true"`
		Zero string        `env:"X_S"`
	}
	Fill(&c)
	if c.N != 42 || c.D != 10*time.Second || !c.B || c.Zero != "" {
		t.Fatalf("got %+v", c)
	}
}

func TestFillPanicsOnABadTag(t *testing.T) {
	var c struct {
		N int `env:"X_N" envDefault:"many"`
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a default that does not parse was accepted")
		}
	}()
	Fill(&c)
}
