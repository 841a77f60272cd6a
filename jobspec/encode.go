package jobspec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// msgpackHandle encodes canonically: map keys sorted, struct fields by their codec
// tags in declaration order, so equal jobs encode to equal bytes on every peer.
// A codec.MsgpackHandle is safe for concurrent use once configured.
var msgpackHandle = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.Canonical = true
	h.RawToString = true
	h.WriteExt = true
	return h
}()

// Encode returns the canonical msgpack encoding of j (hashicorp/go-msgpack/v2, as
// serf and memberlist use). Encode does not modify j.
func Encode(j *Job) ([]byte, error) {
	if j == nil {
		return nil, fmt.Errorf("encoding job: job is nil")
	}
	var out []byte
	if err := codec.NewEncoderBytes(&out, msgpackHandle).Encode(j); err != nil {
		return nil, fmt.Errorf("encoding job %q: %w", j.ID, err)
	}
	return out, nil
}

// Decode decodes a job encoded by Encode.
func Decode(b []byte) (*Job, error) {
	var j Job
	if err := codec.NewDecoderBytes(b, msgpackHandle).Decode(&j); err != nil {
		return nil, fmt.Errorf("decoding job (%d bytes): %w", len(b), err)
	}
	return &j, nil
}

// Hash returns the hex sha256 of the job's canonical encoding with Version zeroed:
// two peers holding the same content agree on it, whatever version each assigned.
// It returns "" only if j cannot be encoded, which a parsed job always can.
func (j *Job) Hash() string {
	c := *j
	c.Version = 0
	b, err := Encode(&c)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// SlotName names the slot an allocation fills: "job/group[index]". Two allocations
// filling the same slot are duplicates (see DESIGN.md, deterministic slots).
func SlotName(jobID, group string, index int) string {
	return fmt.Sprintf("%s/%s[%d]", jobID, group, index)
}
