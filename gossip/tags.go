package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Tags is what a peer advertises about itself in serf tags: identity, capacity,
// eligibility and the versions of the tables it owns. They travel in every
// membership message, so the encoding is compact (one-letter keys, base-36
// numbers) and the whole set must fit in MaxTagBytes; Validate checks the limits
// that guarantee it.
type Tags struct {
	NodeID     string // at most 36 bytes (a UUID)
	Datacenter string // at most 32 bytes
	Class      string // at most 32 bytes
	RPCAddr    string // host:port of the RPC; at most 47 bytes (an IPv6 address with port)
	Version    string // software version; at most 32 bytes
	CPUTotal   int64  // MHz
	CPUFree    int64  // MHz
	MemTotalMB int64
	MemFreeMB  int64
	Eligible   bool
	Draining   bool
	// Digests maps an own table's name to its version (set by Tables, so others
	// know when to pull). At most MaxDigests entries, names at most 16 bytes.
	Digests map[string]uint64
}

// Limits that keep the encoded tags within MaxTagBytes (see TestTagsWorstCaseFits).
const (
	MaxTagBytes   = 512 // memberlist.MetaMaxSize
	MaxDigests    = 4
	maxDigestName = 16
)

// tag keys; "t." prefixes a digest.
const (
	tagNodeID   = "i"
	tagDC       = "d"
	tagClass    = "c"
	tagRPC      = "r"
	tagVersion  = "v"
	tagCPUTotal = "ct"
	tagCPUFree  = "cf"
	tagMemTotal = "mt"
	tagMemFree  = "mf"
	tagFlags    = "f" // "e" eligible, "d" draining
	tagDigest   = "t."
)

// Validate checks the field limits that bound the encoded size.
func (t Tags) Validate() error {
	var errs []error
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"NodeID", t.NodeID, 36}, {"Datacenter", t.Datacenter, 32}, {"Class", t.Class, 32},
		{"RPCAddr", t.RPCAddr, 47}, {"Version", t.Version, 32},
	} {
		if len(f.v) > f.max {
			errs = append(errs, fmt.Errorf("tag %s = %q: %d bytes, at most %d allowed", f.name, f.v, len(f.v), f.max))
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{{"CPUTotal", t.CPUTotal}, {"CPUFree", t.CPUFree}, {"MemTotalMB", t.MemTotalMB}, {"MemFreeMB", t.MemFreeMB}} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("tag %s = %d: must be >= 0", n.name, n.v))
		}
	}
	if len(t.Digests) > MaxDigests {
		errs = append(errs, fmt.Errorf("tag Digests: %d tables, at most %d allowed", len(t.Digests), MaxDigests))
	}
	for name := range t.Digests {
		if name == "" || len(name) > maxDigestName {
			errs = append(errs, fmt.Errorf("tag Digests: table name %q: must be 1..%d bytes", name, maxDigestName))
		}
	}
	return errors.Join(errs...)
}

// encode turns t into serf's tag map.
func (t Tags) encode() map[string]string {
	m := make(map[string]string, 12)
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	num := func(k string, v int64) {
		if v != 0 {
			m[k] = strconv.FormatInt(v, 36)
		}
	}
	put(tagNodeID, t.NodeID)
	put(tagDC, t.Datacenter)
	put(tagClass, t.Class)
	put(tagRPC, t.RPCAddr)
	put(tagVersion, t.Version)
	num(tagCPUTotal, t.CPUTotal)
	num(tagCPUFree, t.CPUFree)
	num(tagMemTotal, t.MemTotalMB)
	num(tagMemFree, t.MemFreeMB)
	flags := ""
	if t.Eligible {
		flags += "e"
	}
	if t.Draining {
		flags += "d"
	}
	put(tagFlags, flags)
	for name, v := range t.Digests {
		m[tagDigest+name] = strconv.FormatUint(v, 36)
	}
	return m
}

// decodeTags is the inverse of encode; unknown keys are ignored (newer peers).
func decodeTags(m map[string]string) (Tags, error) {
	var t Tags
	var errs []error
	num := func(k string) int64 {
		s, ok := m[k]
		if !ok {
			return 0
		}
		v, err := strconv.ParseInt(s, 36, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("tag %q = %q: not a base-36 number", k, s))
		}
		return v
	}
	t.NodeID, t.Datacenter, t.Class = m[tagNodeID], m[tagDC], m[tagClass]
	t.RPCAddr, t.Version = m[tagRPC], m[tagVersion]
	t.CPUTotal, t.CPUFree = num(tagCPUTotal), num(tagCPUFree)
	t.MemTotalMB, t.MemFreeMB = num(tagMemTotal), num(tagMemFree)
	t.Eligible = strings.Contains(m[tagFlags], "e")
	t.Draining = strings.Contains(m[tagFlags], "d")
	for k, s := range m {
		name, ok := strings.CutPrefix(k, tagDigest)
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(s, 36, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("tag %q = %q: not a base-36 number", k, s))
			continue
		}
		if t.Digests == nil {
			t.Digests = map[string]uint64{}
		}
		t.Digests[name] = v
	}
	return t, errors.Join(errs...)
}

// encodedTagSize is the size serf puts on the wire for m: a magic byte and a
// msgpack map (what serf's encodeTags does).
func encodedTagSize(m map[string]string) int {
	var buf bytes.Buffer
	enc := codec.NewEncoder(&buf, &codec.MsgpackHandle{})
	if err := enc.Encode(m); err != nil {
		return 1 << 30
	}
	return 1 + buf.Len()
}

// checkTags validates t and its encoded size.
func checkTags(t Tags) (map[string]string, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	m := t.encode()
	if n := encodedTagSize(m); n > MaxTagBytes {
		return nil, fmt.Errorf("%w: tags encode to %d bytes, limit %d", ErrTooLarge, n, MaxTagBytes)
	}
	return m, nil
}

// equalTags compares two tag sets by their encoding.
func equalTags(a, b Tags) bool { return maps.Equal(a.encode(), b.encode()) }

// sortedKeys returns m's keys in order (deterministic iteration).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
