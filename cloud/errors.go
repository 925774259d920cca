package cloud

import (
	"errors"
	"fmt"
)

// Kind classifies provider errors so that a reconciler can choose between an event, a retry and a backoff.
type Kind int

const (
	// KindNotFound means a resource the caller named does not exist.
	KindNotFound Kind = iota + 1
	// KindThrottled means the cloud asked us to slow down; retry later.
	KindThrottled
	// KindInvalidSpec means the model cannot be applied as it is; retrying will not help until it changes.
	KindInvalidSpec
	// KindConflict means a resource exists that the provider does not own.
	KindConflict
	// KindPending means the cloud is still finishing an earlier change (a deletion releasing its resources);
	// look again shortly, and it is not a failure.
	KindPending
	// KindBlocked means a deletion cannot finish until something outside cloudlb's ownership changes (a security
	// group referenced by another group, deletion protection, a target group used by a rule cloudlb does not
	// own); the error names the blocker.
	KindBlocked
)

// Error is a provider error of a known kind.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error of kind k.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

func isKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// IsNotFound reports whether err says a named resource does not exist.
func IsNotFound(err error) bool { return isKind(err, KindNotFound) }

// IsThrottled reports whether err says the cloud throttled us.
func IsThrottled(err error) bool { return isKind(err, KindThrottled) }

// IsInvalidSpec reports whether err says the model cannot be applied as it is.
func IsInvalidSpec(err error) bool { return isKind(err, KindInvalidSpec) }

// IsConflict reports whether err says a resource in the way is not ours.
func IsConflict(err error) bool { return isKind(err, KindConflict) }

// IsPending reports whether err says the cloud is still finishing an earlier change.
func IsPending(err error) bool { return isKind(err, KindPending) }

// IsBlocked reports whether err says a deletion waits on something cloudlb does not own.
func IsBlocked(err error) bool { return isKind(err, KindBlocked) }
