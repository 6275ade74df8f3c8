// Package envdefault reads a configuration struct's defaults from its
// `envDefault` tags, so that the tag is the one place a default is written:
// the variables an operator sets, the documented table (`dragonfly
// config`) and the Go defaults that tests and libraries use all come from
// it.
package envdefault

import (
	"fmt"

	"github.com/caarlos0/env/v11"
)

// Fill sets every tagged field of the struct c points at to its
// envDefault, as if the environment were empty. A tag that does not parse
// is a programming error and panics; the packages' tests call their
// Default functions, so it cannot ship.
func Fill(c any) {
	if err := env.ParseWithOptions(c, env.Options{Environment: map[string]string{}}); err != nil {
		panic(fmt.Sprintf("envDefault tags of %T: %v", c, err))
	}
}
