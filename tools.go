//go:build tools

// Package shoal pins, during bring-up, the modules the packages are being built on, so
// parallel work does not race on go.mod. Remove once every one is imported for real.
package shoal

import (
	_ "github.com/cockroachdb/datadriven"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/hashicorp/go-msgpack/v2/codec"
	_ "github.com/hashicorp/hcl/v2/hclparse"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/hashicorp/serf/serf"
	_ "github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runtime-spec/specs-go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/zclconf/go-cty/cty"
	_ "go.etcd.io/bbolt"
	_ "pgregory.net/rapid"
)
