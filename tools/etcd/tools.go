//go:build tools

// Package tools records the etcd server tools/build.sh builds, so that go.mod and go.sum pin
// its dependencies. It is never compiled.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
