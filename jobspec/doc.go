// Package jobspec is the job model: the types a user's HCL job file becomes, their parsing
// (hashicorp/hcl/v2, in the syntax Nomad users write), defaults, validation, and the
// canonical encoding and content hash that peers compare.
//
// It owns nothing at run time and imports no package of ours: it is the leaf every other
// package stands on. It does not decide where a job runs (placement) or run it (exec, node).
//
// # API
//
//	Parse(filename string, src []byte, vars map[string]string) (*Job, error)
//	ParseFile(path string, vars map[string]string, varFiles []string) (*Job, error)
//	Load(filename string, src []byte, opts Options) (*Job, Diagnostics)   // warnings too
//	LoadFile(path string, opts Options) (*Job, Diagnostics)
//	(*Job).Canonicalize()            // defaults for a JSON job; Parse already did it
//	(*Job).Validate() error          // Diagnostics naming fields by path
//	Encode(*Job) ([]byte, error); Decode([]byte) (*Job, error)   // canonical msgpack
//	(*Job).Hash() string             // sha256 of the encoding, Version zeroed
//	SlotName(jobID, group string, index int) string               // "job/group[index]"
//	DefaultRestartPolicy(type), DefaultReschedulePolicy(type), DefaultUpdate()
//
// Every error from parsing or validation is a Diagnostics value: all the problems
// at once, each with file:line:col (for files), the field path (e.g.
// `group "web" task "srv": resources.memory`), the bad value, and what is accepted.
// Unknown attributes and blocks get a "did you mean" suggestion. Settings that Nomad
// has and Shoal does not (region, vault, template, identity, docker-only options,
// ...) are warnings, so that a Nomad file runs unchanged; parameterized jobs are
// errors, since ignoring them would change what the job does. A periodic block
// (periodic.go) makes a batch job a parent that launches children at cron ticks.
//
// # How parsing works
//
// The file is parsed with hclsyntax and walked directly (parse.go, decode_*.go), so
// every attribute is checked against the block's spec and converted with a precise
// message. Variables (`variable` blocks, -var-file, -var) and `locals` build the
// evaluation context with the HCL functions Nomad offers (vars.go); run-time
// references such as "${attr.kernel.name}" or "${NOMAD_PORT_http}" are kept as
// written, for the peer. Decoding records where each field was written; then
// defaults are applied (defaults.go) and the same Validate that checks JSON jobs
// runs (validate.go), its diagnostics mapped back to file positions by field path.
//
// All functions are safe for concurrent use; a Job is a value that callers must not
// mutate once shared.
package jobspec
