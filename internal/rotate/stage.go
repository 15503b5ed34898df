package rotate

import "time"

// Stage names the step of a rotation that a duration or a failure belongs to.
type Stage string

// The stages of one rotation, in pipeline order.
const (
	StageSource  Stage = "source"
	StageEncrypt Stage = "encrypt"
	StagePatch   Stage = "patch"
	StageVerify  Stage = "verify"
	StageUsers   Stage = "users"
)

// StageOther is the stage of a failure outside the five above, such as a
// recovered panic: the caller that records outcomes uses it for an error
// that is no *Error.
const StageOther Stage = "other"

// StageTime is how long one stage of a rotation took.
type StageTime struct {
	Stage    Stage
	Duration time.Duration
}
