//go:build tools

// Package tools records the upstream program tools/build.sh builds from this module, Kueue's
// manager, so that go.mod and go.sum pin all of its dependencies. It is never compiled.
package tools

import (
	_ "sigs.k8s.io/kueue/cmd/kueue"
)
