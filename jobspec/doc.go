// Package jobspec is the job model: the types a user's HCL job file becomes, their parsing
// (hashicorp/hcl/v2, in the syntax Nomad users write), defaults, validation, and the
// canonical encoding and content hash that peers compare.
//
// It owns nothing at run time and imports no package of ours: it is the leaf every other
// package stands on. It does not decide where a job runs (placement) or run it (exec, node).
package jobspec
