package failure

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassOfWrappedErrors(t *testing.T) {
	err := fmt.Errorf("outer: %w", Classed(ErrTimeout, "slow"))
	if Class(err) != ErrTimeout || !errors.Is(err, ErrTimeout) || Class(errors.New("plain")) != nil {
		t.Fatal("Class does not see through wrapping")
	}
}
